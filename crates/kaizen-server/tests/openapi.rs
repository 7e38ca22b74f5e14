#[test]
fn dump() {
    let doc = kaizen_server::openapi::document();
    std::fs::write("/tmp/wtc/openapi.json", serde_json::to_string_pretty(&doc).unwrap()).unwrap();
}
