use super::*;

#[test]
fn credentials_never_print() {
    let c = Credentials {
        username: "me".into(),
        password: "hunter2".into(),
    };
    assert!(!format!("{c:?}").contains("hunter2"));
}
