//! The console speaks to a help desk (issue 27, item 10): a refused action says what
//! happened in plain words, never a jXchange fault code, and its home is an overview.

use crate::support::admin::server_with_admin;

#[test]
fn a_refused_action_says_what_happened_without_a_fault_code() {
    let (_server, c) = server_with_admin();
    let page = c.submit(
        "/admin/users",
        "/admin/users/tempcode",
        &[("usr_name", "Nobody Here")],
    );
    assert_eq!(page.status, 303, "{}", page.body);
    let flash = page
        .set_cookies
        .iter()
        .find(|cookie| cookie.starts_with("_flash="))
        .map(|cookie| cookie.replace("%20", " "))
        .unwrap_or_default();
    assert!(
        flash.contains("There is no user by that name here"),
        "{flash}"
    );
    assert!(!flash.contains("7021"), "{flash}");
}

/// The value shown in the overview cell `id`.
fn cell(body: &str, id: &str) -> i64 {
    let start = body.find(&format!("id=\"{id}\">")).unwrap() + id.len() + 6;
    body[start..]
        .split('<')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// The console's home is an overview: tokens by status (plain words beside the
/// jXchange names), locked now, SMS sent today, failed codes in the last hour.
#[test]
fn the_console_home_is_an_overview_of_the_institution() {
    let (server, c) = server_with_admin();
    server.enroll_active("ann");
    let (_, seed, _) = server.enroll_active("bob");
    let bad = crate::support::wrong_code(&seed);
    for _ in 0..5 {
        server.validate("bob", &bad);
    }
    let home = c.get("/admin/");
    assert_eq!(home.location.as_deref(), Some("/admin/overview"));
    let page = c.get("/admin/overview");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("Active</td><td><span class=\"stat Act\">Act</span></td><td>2<"),
        "{}",
        page.body
    );
    assert_eq!(cell(&page.body, "locked-now"), 1);
    assert!(cell(&page.body, "failures-hour") >= 4, "{}", page.body);
    assert_eq!(cell(&page.body, "sms-today"), 0);
}

/// The API keys page says when each key last authenticated a request.
#[test]
fn api_keys_show_when_they_were_last_used() {
    let (server, c) = server_with_admin();
    crate::support::create_key(&server.data_dir, "idle-key", "validate");
    server.enroll_active("ann");
    let page = c.get("/admin/apikeys");
    assert_eq!(page.status, 200, "{}", page.body);
    let row = |name: &str| {
        let start = page.body.find(&format!("<td>{name}</td>")).unwrap();
        page.body[start..].split("</tr>").next().unwrap().to_owned()
    };
    assert!(
        row("idle-key").contains("<small>never</small>"),
        "{}",
        row("idle-key")
    );
    let used = page
        .body
        .split("<tr>")
        .find(|r| r.contains("<td>test-"))
        .unwrap();
    assert!(!used.contains("never"), "{used}");
    assert!(
        used.contains(&chrono::Utc::now().format("%Y-%m-%d").to_string()),
        "{used}"
    );
}

/// Column names a help desk understands, with the jXchange names beside them.
#[test]
fn columns_say_what_they_hold_beside_the_jxchange_names() {
    let (server, c) = server_with_admin();
    server.enroll_active("ann");
    let page = c.get("/admin/user?name=ann");
    assert_eq!(page.status, 200, "{}", page.body);
    for header in [
        "<th>Token status <small>UsrTokenStat</small></th>",
        "<th>This user's use of it <small>MFATokenUsrStat</small></th>",
    ] {
        assert!(page.body.contains(header), "{header}: {}", page.body);
    }
    let list = c.get("/admin/users");
    assert!(list.body.contains("<th>User <small>UsrName</small></th>"));
}
