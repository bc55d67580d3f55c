//! `/ready` for load balancers (issue 31): ready when the node can serve; not ready when
//! a master key in use is one it does not hold (it could not unseal those seeds), naming
//! the key; `/health` stays the liveness answer.

use crate::support::{tamper, TestServer};

fn ready(server: &TestServer) -> (u16, serde_json::Value) {
    crate::support::json_of(ureq::get(&format!("{}/ready", server.base)).call())
}

#[test]
fn a_node_is_ready_until_a_key_in_use_is_one_it_does_not_hold() {
    let server = TestServer::start();
    let (status, rs) = ready(&server);
    assert_eq!(status, 200, "{rs}");
    assert_eq!(rs["Writable"], "ok");
    assert_eq!(rs["Keys"], "ok");
    // Another node began a rotation to a key this one never got.
    tamper(
        &server.data_dir,
        "INSERT INTO master_keys (key_id, fingerprint, state, added_at) \
         VALUES ('0123456789abcdef', 'not-held', 'retiring', 0)",
    );
    let (status, rs) = ready(&server);
    assert_eq!(status, 503, "{rs}");
    assert_eq!(rs["Keys"], "unavailable");
    assert_eq!(rs["MissingKeyIds"][0], "0123456789abcdef");
    // Alive all the same: /health is liveness.
    let (status, _, _, _) = server.get("/health");
    assert_eq!(status, 200);
}
