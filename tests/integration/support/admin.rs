//! An admin's browser without JavaScript: a cookie jar, no automatic redirects (tests
//! check where each answer points), forms posted as `application/x-www-form-urlencoded`
//! with the CSRF token read from the page, as a browser would send it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;

use super::{response, TestServer};

/// One answer of the console.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
    pub headers: BTreeMap<String, String>,
    pub set_cookies: Vec<String>,
}

impl Page {
    /// The value of the first `name="csrf"` hidden field.
    pub fn csrf(&self) -> String {
        hidden(&self.body, "csrf").expect("the page has a CSRF field")
    }
}

/// The value of the first hidden input `name` on a page.
pub fn hidden(body: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_owned())
}

/// A browser session on a test server.
pub struct AdminClient {
    base: String,
    agent: ureq::Agent,
    cookies: RefCell<BTreeMap<String, String>>,
}

fn form_encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes a form value.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl AdminClient {
    /// A browser with no cookies.
    pub fn new(server: &TestServer) -> AdminClient {
        AdminClient {
            base: server.base.clone(),
            agent: ureq::AgentBuilder::new().redirects(0).build(),
            cookies: RefCell::new(BTreeMap::new()),
        }
    }

    /// A browser with no cookies that talks to `base` through `agent` (a TLS agent trusting
    /// a test CA, or one adding a proxy's headers).
    pub fn with_agent(base: &str, agent: ureq::Agent) -> AdminClient {
        AdminClient {
            base: base.to_owned(),
            agent,
            cookies: RefCell::new(BTreeMap::new()),
        }
    }

    /// The same browser (a copy of its cookies) talking to `base`: another node behind
    /// the same load balancer.
    pub fn on(&self, base: &str) -> AdminClient {
        AdminClient {
            base: base.to_owned(),
            agent: self.agent.clone(),
            cookies: RefCell::new(self.cookies.borrow().clone()),
        }
    }

    /// Signs in (username and password known not to need a change) and answers the client.
    pub fn signed_in(server: &TestServer, username: &str, password: &str) -> AdminClient {
        let c = AdminClient::new(server);
        let page = c.sign_in(username, password);
        assert_eq!(page.status, 303, "{}", page.body);
        c
    }

    /// Loads the sign-in page and posts the form.
    pub fn sign_in(&self, username: &str, password: &str) -> Page {
        let login = self.get("/admin/login");
        assert_eq!(login.status, 200);
        self.post(
            "/admin/login",
            &[
                ("csrf", &login.csrf()),
                ("username", username),
                ("password", password),
            ],
        )
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .borrow()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn page(&self, rs: Result<ureq::Response, ureq::Error>) -> Page {
        let rs = response(rs);
        let mut headers = BTreeMap::new();
        for name in rs.headers_names() {
            if let Some(v) = rs.header(&name) {
                headers.insert(name.to_ascii_lowercase(), v.to_owned());
            }
        }
        let set_cookies: Vec<String> = rs.all("set-cookie").iter().map(|s| s.to_string()).collect();
        for c in &set_cookies {
            let pair = c.split(';').next().unwrap_or_default();
            if let Some((k, v)) = pair.split_once('=') {
                let expired = c.contains("Max-Age=0") || v.is_empty();
                if expired {
                    self.cookies.borrow_mut().remove(k.trim());
                } else {
                    self.cookies
                        .borrow_mut()
                        .insert(k.trim().to_owned(), v.to_owned());
                }
            }
        }
        Page {
            status: rs.status(),
            location: rs.header("Location").map(str::to_owned),
            headers,
            set_cookies,
            body: rs.into_string().unwrap_or_default(),
        }
    }

    /// GET a console path.
    pub fn get(&self, path: &str) -> Page {
        let rq = self
            .agent
            .get(&format!("{}{path}", self.base))
            .set("Cookie", &self.cookie_header());
        self.page(rq.call())
    }

    /// POST a form.
    pub fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let rq = self
            .agent
            .post(&format!("{}{path}", self.base))
            .set("Cookie", &self.cookie_header())
            .set("Content-Type", "application/x-www-form-urlencoded");
        self.page(rq.send_string(&form_encode(fields)))
    }

    /// POST a multipart form with one file field `file`.
    pub fn post_file(&self, path: &str, csrf: &str, file_name: &str, bytes: &[u8]) -> Page {
        self.post_file_with(path, &[("csrf", csrf)], file_name, bytes)
    }

    /// POST a multipart form with text `fields` and one file field `file`.
    pub fn post_file_with(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        file_name: &str,
        bytes: &[u8],
    ) -> Page {
        let boundary = "----tokendtestboundary7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for (k, v) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let rq = self
            .agent
            .post(&format!("{}{path}", self.base))
            .set("Cookie", &self.cookie_header())
            .set(
                "Content-Type",
                &format!("multipart/form-data; boundary={boundary}"),
            );
        self.page(rq.send_bytes(&body))
    }

    /// GET `path`, then POST its form with the page's CSRF token and `fields`.
    pub fn submit(&self, page_path: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(page_path);
        assert_eq!(page.status, 200, "{page_path}: {}", page.body);
        let csrf = page.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all)
    }

    /// Follows a redirect answer and answers the page it points to.
    pub fn follow(&self, page: &Page) -> Page {
        let to = page.location.as_deref().expect("a redirect");
        self.get(to)
    }
}

/// Creates an admin through the CLI with a password on stdin.
pub fn create_admin(data_dir: &Path, username: &str, password: &str) {
    let out = super::cli_input(
        data_dir,
        &[
            "admin",
            "create",
            "--username",
            username,
            "--password-stdin",
            "--all-institutions",
        ],
        format!("{password}\n").as_bytes(),
    );
    assert!(
        out.status.success(),
        "admin create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "a given password is never printed");
}

/// The password of the fixture admin.
pub const PASSWORD: &str = "correct horse battery staple";

/// A server with an admin `ola` (password [`PASSWORD`]) and that admin's signed-in client.
pub fn server_with_admin() -> (TestServer, AdminClient) {
    let dir = tempfile::tempdir().unwrap();
    create_admin(dir.path(), "ola", PASSWORD);
    let mut server = TestServer::start_in(dir.path(), &[]).expect("server starts");
    server.keep_dir(dir);
    let client = AdminClient::signed_in(&server, "ola", PASSWORD);
    (server, client)
}
