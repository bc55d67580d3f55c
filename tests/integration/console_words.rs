//! The console speaks to a help desk: a refused action says what happened in plain
//! words, never a jXchange fault code (issue 27, item 10).

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
