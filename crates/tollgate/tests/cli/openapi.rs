//! `tollgate openapi`: the API document without a server.

use crate::Sandbox;

#[test]
fn openapi_prints_the_document_and_writes_the_same_to_a_file() {
    let sandbox = Sandbox::new();
    let printed = sandbox.run(&["openapi"]).expect(0);
    let doc = printed.json();
    assert!(doc["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.1")));
    assert_eq!(doc["info"]["title"], "Tollgate");
    assert!(doc["paths"]["/api/v1/log"]["post"].is_object());

    let file = sandbox.path("openapi.json");
    let wrote = sandbox
        .run(&["openapi", "-o", file.to_str().expect("utf-8 path")])
        .expect(0);
    assert!(wrote.stdout.is_empty(), "{}", wrote.stdout);
    let written = std::fs::read_to_string(&file).expect("the file");
    assert_eq!(written, printed.stdout);
}
