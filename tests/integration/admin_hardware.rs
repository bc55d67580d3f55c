//! Hardware tokens in the console: upload a CSV seed file (per-line results; a second
//! import adds nothing and says so), the inventory of unassigned tokens, bind by serial.

use crate::support::admin::{hidden, server_with_admin};
use crate::support::{now_step, totp};

const SEED_HEX: &str = "3132333435363738393031323334353637383930";

#[test]
fn upload_a_seed_file_twice_then_bind_a_token_by_serial() {
    let (server, c) = server_with_admin();
    let file = format!(
        "serial,seed,algorithm,digits,period,usr_name\n\
         HW-0001,{SEED_HEX},SHA1,6,30\n\
         HW-0002,{SEED_HEX},SHA1,6,30\n\
         HW-0003,{SEED_HEX},SHA1,6,30,Kari\n\
         HW-0004,3132,SHA1,6,30\n"
    );
    let csrf = c.get("/admin/hardware").csrf();
    let first = c.post_file(
        "/admin/hardware/import",
        &csrf,
        "batch.csv",
        file.as_bytes(),
    );
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(
        first.body.contains("<dd id=\"imported\">3</dd>"),
        "{}",
        first.body
    );
    assert!(first.body.contains("<dd id=\"refused\">1</dd>"));
    assert!(
        first.body.contains("at least 128 required"),
        "the refused line says why"
    );
    assert!(!first.body.contains(SEED_HEX), "never a seed on the page");
    let again = c.post_file(
        "/admin/hardware/import",
        &csrf,
        "batch.csv",
        file.as_bytes(),
    );
    assert!(again.body.contains("<dd id=\"imported\">0</dd>"));
    assert!(again.body.contains("<dd id=\"present\">3</dd>"));
    let garbage = c.post_file("/admin/hardware/import", &csrf, "x.bin", &[0xff, 0, 1, 2]);
    assert_eq!(garbage.status, 200, "garbage is a refused line, not a 500");
    assert_eq!(
        c.post_file(
            "/admin/hardware/import",
            "wrong",
            "batch.csv",
            file.as_bytes()
        )
        .status,
        403
    );

    bind_by_serial(&server, &c);
}

fn bind_by_serial(server: &crate::support::TestServer, c: &crate::support::admin::AdminClient) {
    // The inventory lists the two unassigned tokens (HW-0003 went to Kari).
    let inventory = c.get("/admin/hardware");
    assert!(inventory.body.contains("HW-0001") && inventory.body.contains("HW-0002"));
    assert!(!inventory.body.contains("HW-0003"));

    // Bind from the user's page by serial; the token then activates with its first code.
    let created = c.submit(
        "/admin/users/new",
        "/admin/users",
        &[("usr_name", "Jane Doe"), ("phone", "")],
    );
    let detail = c.follow(&created);
    let bound = c.post(
        "/admin/hardware/bind",
        &[
            ("csrf", &detail.csrf()),
            ("usr_name", "Jane Doe"),
            ("from", "user"),
            ("token_id", "HW-0001"),
        ],
    );
    let page = c.follow(&bound);
    assert!(
        page.body.contains("HW-0001 is bound to Jane Doe"),
        "{}",
        page.body
    );
    assert!(page.body.contains("stat Init"));
    assert!(!c.get("/admin/hardware").body.contains("HW-0001"));
    // The same serial a second time, an unknown one, a bound one: refused with a message.
    for (serial, says) in [
        ("HW-0001", "7034"),
        ("HW-9999", "7020"),
        ("HW-0003", "7034"),
    ] {
        let again = c.post(
            "/admin/hardware/bind",
            &[
                ("csrf", &detail.csrf()),
                ("usr_name", "Ola"),
                ("token_id", serial),
            ],
        );
        assert_eq!(again.location.as_deref(), Some("/admin/hardware"));
        assert!(c.follow(&again).body.contains(says), "{serial}");
    }
    let seed = b"12345678901234567890";
    let code = totp(seed, "SHA1", 6, now_step(30) - 1);
    let (status, rs) = server.post(
        "/api/v1/tokens/HW-0001/activate",
        &serde_json::json!({ "Code": code }),
    );
    assert_eq!((status, rs["RsStat"].as_str()), (200, Some("Success")));
    // From the inventory row as well.
    let inv = c.get("/admin/hardware");
    assert_eq!(hidden(&inv.body, "token_id").as_deref(), Some("HW-0002"));
    let from_row = c.post(
        "/admin/hardware/bind",
        &[
            ("csrf", &inv.csrf()),
            ("token_id", "HW-0002"),
            ("usr_name", "Ola"),
        ],
    );
    assert_eq!(from_row.location.as_deref(), Some("/admin/user?name=Ola"));
}
