//! Token pages of the admin console through the real server: enroll with the QR code
//! and secret shown once, activation, lock/unlock/disable/enable with the ActIntentKey,
//! resync, delete after confirmation, temporary codes; every form refuses a bad CSRF.

use crate::support::admin::{hidden, server_with_admin, AdminClient};
use crate::support::{b32, now_step, totp};

const JANE: &str = "/admin/user?name=Jane%20Doe";

/// Creates Jane and enrolls a software token through the console; answers its serial
/// and seed.
fn enroll_jane(c: &AdminClient) -> (String, Vec<u8>) {
    let created = c.submit(
        "/admin/users/new",
        "/admin/users",
        &[("usr_name", "Jane Doe"), ("phone", "4175556652")],
    );
    assert_eq!(created.location.as_deref(), Some(JANE));
    let detail = c.get(JANE);
    assert!(detail.body.contains("No token is bound"));
    let page = c.submit(
        "/admin/enroll?name=Jane%20Doe",
        "/admin/enroll",
        &[("usr_name", "Jane Doe"), ("description", "Jane's phone")],
    );
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.headers["cache-control"], "no-store");
    assert!(page.body.contains("src=\"data:image/png;base64,"));
    let secret = page.body.split("id=\"secret\">").nth(1).unwrap();
    let secret = secret.split('<').next().unwrap().to_owned();
    let token = page.body.split("id=\"token-id\">").nth(1).unwrap();
    let token = token.split('<').next().unwrap().to_owned();
    (token, b32(&secret))
}

fn action(c: &AdminClient, target: &str, status: &str) -> crate::support::admin::Page {
    let detail = c.get(JANE);
    let token = hidden(&detail.body, "token_id").unwrap();
    let key = hidden(&detail.body, "key").unwrap();
    c.post(
        "/admin/tokens/modify",
        &[
            ("csrf", &detail.csrf()),
            ("token_id", &token),
            ("usr_name", "Jane Doe"),
            ("key", &key),
            ("target", target),
            ("status", status),
        ],
    )
}

#[test]
fn enroll_activate_lock_unlock_disable_enable_resync_and_delete() {
    let (server, c) = server_with_admin();
    let (token, seed) = enroll_jane(&c);
    let step = now_step(30);
    let wrong = c.submit(
        &format!("/admin/activate?token={token}&name=Jane%20Doe"),
        "/admin/activate",
        &[
            ("token_id", &token),
            ("usr_name", "Jane Doe"),
            ("code", "12345x"),
        ],
    );
    assert!(
        c.follow(&wrong).body.contains("A code must be 6 or 8"),
        "a malformed code is refused"
    );
    let ok = c.submit(
        &format!("/admin/activate?token={token}&name=Jane%20Doe"),
        "/admin/activate",
        &[
            ("token_id", &token),
            ("usr_name", "Jane Doe"),
            ("code", &totp(&seed, "SHA1", 6, step - 1)),
        ],
    );
    assert_eq!(ok.location.as_deref(), Some(JANE));
    let detail = c.follow(&ok);
    assert!(detail.body.contains("is active"), "{}", detail.body);
    assert!(detail.body.contains("stat Act"));
    assert!(
        detail.body.contains("Jane&#x27;s phone"),
        "description, escaped"
    );

    // Lock the binding: validation answers Locked; unlock: it validates again.
    let locked = action(&c, "binding", "Lock");
    assert!(c.follow(&locked).body.contains("is now Lock"));
    assert_eq!(
        server.validate("Jane Doe", &totp(&seed, "SHA1", 6, step))["RsStat"],
        "Locked"
    );
    let unlocked = action(&c, "binding", "Act");
    assert!(c.follow(&unlocked).body.contains("is now Act"));
    assert_eq!(
        server.validate("Jane Doe", &totp(&seed, "SHA1", 6, step + 1))["RsStat"],
        "Success"
    );

    stale_keys_and_garbage_are_refused(&c, &token);
    resync_temp_code_and_delete(&server, &c, &token, &seed, step);
}

fn stale_keys_and_garbage_are_refused(c: &AdminClient, token: &str) {
    // A key from a page that has changed since (another admin acted) is refused.
    let stale = c.get(JANE);
    let stale_key = hidden(&stale.body, "key").unwrap();
    action(c, "token", "Disable");
    let refused = c.post(
        "/admin/tokens/modify",
        &[
            ("csrf", &stale.csrf()),
            ("token_id", token),
            ("usr_name", "Jane Doe"),
            ("key", &stale_key),
            ("target", "token"),
            ("status", "Act"),
        ],
    );
    let shown = c.follow(&refused).body;
    assert!(
        shown.contains("Someone changed this record meanwhile"),
        "{shown}"
    );
    assert!(shown.contains("stat Disable"));
    let enabled = action(c, "token", "Act");
    assert!(c.follow(&enabled).body.contains("Token of"));
    // Garbage statuses are refused, not a 500.
    let garbage = action(c, "token", "Nope");
    assert!(c
        .follow(&garbage)
        .body
        .contains("That value is not one of the choices"));
}

fn resync_temp_code_and_delete(
    server: &crate::support::TestServer,
    c: &AdminClient,
    token: &str,
    seed: &[u8],
    step: i64,
) {
    // Resync with two consecutive codes a few steps ahead.
    let resynced = c.submit(
        &format!("/admin/tokens/resync?token={token}&name=Jane%20Doe"),
        "/admin/tokens/resync",
        &[
            ("token_id", token),
            ("usr_name", "Jane Doe"),
            ("code1", &totp(seed, "SHA1", 6, step + 5)),
            ("code2", &totp(seed, "SHA1", 6, step + 6)),
        ],
    );
    assert!(
        c.follow(&resynced).body.contains("resynchronised"),
        "{resynced:?}"
    );

    // Temporary code, shown once.
    let temp = c.submit(JANE, "/admin/users/tempcode", &[("usr_name", "Jane Doe")]);
    assert_eq!(temp.status, 200);
    let code = temp.body.split("id=\"temp-code\">").nth(1).unwrap();
    let code = code.split('<').next().unwrap();
    assert_eq!(code.len(), 8);
    assert_eq!(server.validate("Jane Doe", code)["RsStat"], "Success");

    // Delete asks first; the confirmation page carries the Dlt key.
    let detail = c.get(JANE);
    let link = detail
        .body
        .split("href=\"/admin/tokens/delete?")
        .nth(1)
        .unwrap();
    let link = link.split('"').next().unwrap().replace("&amp;", "&");
    let confirm = c.get(&format!("/admin/tokens/delete?{link}"));
    assert!(confirm.body.contains("cannot be undone"));
    let deleted = c.post(
        "/admin/tokens/delete",
        &[
            ("csrf", &confirm.csrf()),
            ("token_id", token),
            ("usr_name", "Jane Doe"),
            ("key", &hidden(&confirm.body, "key").unwrap()),
        ],
    );
    let after = c.follow(&deleted).body;
    assert!(after.contains("is deleted"), "{after}");
    assert!(after.contains("stat Del"));
}

#[test]
fn every_token_form_refuses_a_missing_or_wrong_csrf_token() {
    let (_server, c) = server_with_admin();
    let (token, _seed) = enroll_jane(&c);
    let forms: [(&str, Vec<(&str, &str)>); 6] = [
        ("/admin/enroll", vec![("usr_name", "Jane Doe")]),
        (
            "/admin/activate",
            vec![
                ("token_id", &token),
                ("usr_name", "Jane Doe"),
                ("code", "123456"),
            ],
        ),
        (
            "/admin/tokens/modify",
            vec![
                ("token_id", &token),
                ("usr_name", "Jane Doe"),
                ("key", "k"),
                ("target", "token"),
                ("status", "Disable"),
            ],
        ),
        (
            "/admin/tokens/delete",
            vec![("token_id", &token), ("usr_name", "Jane Doe"), ("key", "k")],
        ),
        (
            "/admin/tokens/resync",
            vec![
                ("token_id", &token),
                ("usr_name", "Jane Doe"),
                ("code1", "123456"),
                ("code2", "654321"),
            ],
        ),
        ("/admin/users/tempcode", vec![("usr_name", "Jane Doe")]),
    ];
    for (action, fields) in forms {
        assert_eq!(
            c.post(action, &fields).status,
            403,
            "{action} without a token"
        );
        let mut wrong = vec![("csrf", "wrong")];
        wrong.extend(fields.iter().copied());
        assert_eq!(
            c.post(action, &wrong).status,
            403,
            "{action} with a wrong token"
        );
        let out = AdminClient::new(&_server).post(action, &wrong);
        assert_eq!(
            out.location.as_deref(),
            Some("/admin/login"),
            "{action} signed out"
        );
    }
    assert!(c.get(JANE).body.contains("stat Init"), "nothing changed");
}
