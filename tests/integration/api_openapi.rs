//! The OpenAPI document at `/api/v1/openapi.json`: served without a key, a well-formed
//! OpenAPI 3 document naming every route Rocket mounts under `/api/v1` (the list comes from
//! `tokend::web::api::routes()`, so a new route without `#[utoipa::path]` fails here), and
//! real answers — successes and faults — match the schemas it gives for them.

use serde_json::{json, Value};
use std::collections::BTreeSet;

use crate::support::schema::{resolve, validate};
use crate::support::{json_of, TestServer};

/// Fetches the document without any key.
fn document(server: &TestServer) -> Value {
    let (status, doc) = json_of(ureq::get(&format!("{}/api/v1/openapi.json", server.base)).call());
    assert_eq!(status, 200);
    doc
}

/// Every mounted API operation as (method, OpenAPI path, query parameter names).
fn mounted() -> Vec<(String, String, BTreeSet<String>)> {
    let rocket = rocket::build().mount(tokend::web::API_BASE, tokend::web::api::routes());
    rocket
        .routes()
        .map(|r| {
            let path = r.uri.path().replace('<', "{").replace('>', "}");
            let query = r
                .uri
                .query()
                .unwrap_or_default()
                .split('&')
                .filter(|q| !q.is_empty())
                .map(|q| q.trim_matches(|c| c == '<' || c == '>').to_owned())
                .collect();
            (r.method.as_str().to_ascii_lowercase(), path, query)
        })
        .collect()
}

/// Every `$ref` in `v` resolves within `doc`.
fn refs_resolve(doc: &Value, v: &Value, broken: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, sub) in map {
                if k == "$ref" && resolve(doc, sub.as_str().unwrap_or_default()).is_none() {
                    broken.push(sub.to_string());
                }
                refs_resolve(doc, sub, broken);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| refs_resolve(doc, i, broken)),
        _ => {}
    }
}

fn fault_ref(op: &Value, status: &str) -> Option<String> {
    op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .map(str::to_owned)
}

#[test]
fn the_document_is_served_without_a_key_and_names_every_route() {
    let server = TestServer::start();
    let doc = document(&server);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"],
        json!({"type": "http", "scheme": "bearer",
            "description": "An API key from `tokend apikey create` (scopes manage, validate, sms)"})
    );
    assert_eq!(doc["security"], json!([{"bearer": []}]));
    let mut broken = Vec::new();
    refs_resolve(&doc, &doc, &mut broken);
    assert!(broken.is_empty(), "unresolved $refs: {broken:?}");

    let routes = mounted();
    assert!(routes.len() >= 19, "{routes:?}");
    let mut operation_ids = BTreeSet::new();
    for (method, path, query) in &routes {
        let op = &doc["paths"][path][method];
        assert!(
            op.is_object(),
            "{method} {path} is mounted but not documented"
        );
        assert!(operation_ids.insert(op["operationId"].as_str().unwrap().to_owned()));
        let params: Vec<&Value> = op["parameters"]
            .as_array()
            .map(|p| p.iter().collect())
            .unwrap_or_default();
        for segment in path.split('/').filter(|s| s.starts_with('{')) {
            let name = segment.trim_matches(|c| c == '{' || c == '}');
            assert!(
                params
                    .iter()
                    .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true),
                "{method} {path}: path parameter {name} undocumented"
            );
        }
        let documented_query: BTreeSet<String> = params
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            &documented_query, query,
            "{method} {path}: query parameters"
        );
        assert!(
            op["responses"]["200"].is_object(),
            "{method} {path}: no 200"
        );
        if path.ends_with("/openapi.json") {
            assert_eq!(op["security"], json!([{}]), "the document needs no key");
            continue;
        }
        for status in ["401", "403", "500", "503"] {
            assert_eq!(
                fault_ref(op, status).as_deref(),
                Some("#/components/schemas/FaultRs"),
                "{method} {path}: {status}"
            );
        }
        if method == "post" {
            assert_eq!(op["requestBody"]["required"], true, "{method} {path}");
            for status in ["400", "413"] {
                assert!(fault_ref(op, status).is_some(), "{method} {path}: {status}");
            }
        }
    }
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(
        documented,
        routes.len(),
        "the document names operations no route serves"
    );
    let limited = &doc["paths"]["/api/v1/validate"]["post"]["responses"]["429"];
    assert!(limited["headers"]["Retry-After"].is_object(), "{limited}");
}

/// The schema of the answer `status` of `method path`, as a `$ref` object.
fn answer_schema(doc: &Value, method: &str, path: &str, status: u16) -> Value {
    let schema = &doc["paths"][path][method]["responses"][status.to_string()]["content"]
        ["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path} documents no JSON {status}"
    );
    schema.clone()
}

/// Asserts that a real answer matches the document.
fn conforms(doc: &Value, method: &str, path: &str, (status, body): (u16, Value)) -> Value {
    let schema = answer_schema(doc, method, path, status);
    let errors = validate(doc, &schema, &body);
    assert!(
        errors.is_empty(),
        "{method} {path} answered {status} {body}\nagainst the schema: {errors:#?}"
    );
    body
}

#[test]
fn real_answers_match_their_schemas() {
    let server = TestServer::start();
    let doc = document(&server);
    let sms = crate::support::create_key(&server.data_dir, "openapi-sms", "sms");
    let post = |p: &str, body: Value| server.post(p, &body);

    // Enrollment (software, then hardware), activation, validation, inquiry, modify.
    let add = "/api/v1/tokens";
    let rs = conforms(
        &doc,
        "post",
        add,
        post(
            add,
            json!({"UsrName": "Jane Doe", "TokenType": "Software", "PhoneNum": "4175556652"}),
        ),
    );
    let token = rs["TokenId"].as_str().unwrap().to_owned();
    conforms(
        &doc,
        "post",
        add,
        post(
            add,
            json!({"UsrName": "Ola", "TokenType": "Hardware",
        "TokenId": "HW-OPENAPI-1", "Seed": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"}),
        ),
    );
    conforms(
        &doc,
        "post",
        add,
        post(add, json!({"UsrName": "Jane Doe", "TokenType": "Softwar"})),
    );
    conforms(
        &doc,
        "post",
        add,
        post(
            add,
            json!({"UsrName": "Ola", "TokenType": "Hardware", "TokenId": "HW-OPENAPI-1",
        "Seed": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"}),
        ),
    );
    let activate = "/api/v1/tokens/{token_id}/activate";
    conforms(
        &doc,
        "post",
        activate,
        post(
            &format!("/api/v1/tokens/{token}/activate"),
            json!({"Code": "000000"}),
        ),
    );
    conforms(
        &doc,
        "post",
        activate,
        post("/api/v1/tokens/nope/activate", json!({"Code": "000000"})),
    );
    let validate_path = "/api/v1/validate";
    conforms(
        &doc,
        "post",
        validate_path,
        post(
            validate_path,
            json!({"UsrName": "Jane Doe", "Code": "12345"}),
        ),
    );
    let inquiry = "/api/v1/inquiry";
    let inq = conforms(
        &doc,
        "post",
        inquiry,
        post(inquiry, json!({"TokenId": token, "ActIntent": "Upd"})),
    );
    let modify = "/api/v1/tokens/{token_id}/modify";
    conforms(
        &doc,
        "post",
        modify,
        post(
            &format!("/api/v1/tokens/{token}/modify"),
            json!({"ActIntentKey": inq["ActIntentKey"], "UsrName": "Jane Doe", "UsrTokenDesc": "phone"}),
        ),
    );
    conforms(
        &doc,
        "post",
        modify,
        post(
            &format!("/api/v1/tokens/{token}/modify"),
            json!({"ActIntentKey": "stale"}),
        ),
    );

    // Lock an active token of the user (who has a phone on file): the fifth wrong code
    // answers Locked with the SMS fallback.
    let (active, seed, step) = server.enroll_active("Jane Doe");
    let code = crate::support::totp(&seed, "SHA1", 6, step + 1);
    let ok = conforms(
        &doc,
        "post",
        validate_path,
        post(validate_path, json!({"TokenId": active, "Code": code})),
    );
    assert_eq!(ok["RsStat"], "Success", "{ok}");
    let mut locked = Value::Null;
    for _ in 0..5 {
        locked = conforms(
            &doc,
            "post",
            validate_path,
            post(
                validate_path,
                json!({"UsrName": "Jane Doe", "Code": "000000"}),
            ),
        );
    }
    assert_eq!(locked["RsStat"], "Locked", "{locked}");
    let alrt = locked["OOB"]["AlrtPkgId"].as_str().unwrap().to_owned();
    conforms(&doc, "get", "/api/v1/oob/{alrt_pkg_id}", {
        let (status, _, _, bytes) = server.get(&format!("/api/v1/oob/{alrt}"));
        (status, serde_json::from_slice(&bytes).unwrap())
    });
    let verify = "/api/v1/oob/{alrt_pkg_id}/verify";
    conforms(
        &doc,
        "post",
        verify,
        post(
            &format!("/api/v1/oob/{alrt}/verify"),
            json!({"OTP": "000000"}),
        ),
    );
    conforms(
        &doc,
        "post",
        verify,
        post(&format!("/api/v1/oob/{alrt}/verify"), json!({"OTP": "x"})),
    );
    let oob = "/api/v1/oob";
    conforms(
        &doc,
        "post",
        oob,
        post(
            oob,
            json!({"PhoneNum": "4175556652", "OOBModeType": "OneWay"}),
        ),
    );
    conforms(
        &doc,
        "post",
        oob,
        post(oob, json!({"PhoneNum": "4175556652", "ExpSec": 5})),
    );
    let inbound = "/api/v1/sms/inbound";
    conforms(
        &doc,
        "post",
        inbound,
        server.post_as(
            &sms,
            inbound,
            &json!({"From": "+14175556652", "Body": "STOP"}),
        ),
    );
    conforms(
        &doc,
        "post",
        inbound,
        server.post_as(&server.key, inbound, &json!({"From": "1", "Body": ""})),
    );

    for (path, query) in [
        ("/api/v1/events", "?after=0"),
        ("/api/v1/sms/outbox", "?after=0"),
        ("/api/v1/audit", "?Limit=5"),
        ("/api/v1/audit", "?Limit=0"),
    ] {
        let (status, _, _, bytes) = server.get(&format!("{path}{query}"));
        conforms(
            &doc,
            "get",
            path,
            (status, serde_json::from_slice(&bytes).unwrap()),
        );
    }
    let temp = "/api/v1/tempcode";
    conforms(&doc, "post", temp, post(temp, json!({"UsrName": "Ola"})));
    conforms(
        &doc,
        "post",
        "/api/v1/tokens/{token_id}/resync",
        post(
            "/api/v1/tokens/HW-OPENAPI-1/resync",
            json!({"Code1": "123456", "Code2": "654321"}),
        ),
    );
    let dlt = conforms(
        &doc,
        "post",
        inquiry,
        post(
            inquiry,
            json!({"TokenId": "HW-OPENAPI-1", "ActIntent": "Dlt"}),
        ),
    );
    conforms(
        &doc,
        "post",
        "/api/v1/tokens/{token_id}/delete",
        post(
            "/api/v1/tokens/HW-OPENAPI-1/delete",
            json!({"ActIntentKey": dlt["ActIntentKey"]}),
        ),
    );

    // No key: 401 with the fault body.
    let anonymous = json_of(ureq::post(&format!("{}{inquiry}", server.base)).send_string("{}"));
    conforms(&doc, "post", inquiry, anonymous);
}

#[test]
fn the_schema_check_can_fail() {
    let server = TestServer::start();
    let doc = document(&server);
    let (status, mut rs) = server.post(
        "/api/v1/tokens",
        &json!({"UsrName": "Kari", "TokenType": "Software"}),
    );
    let schema = answer_schema(&doc, "post", "/api/v1/tokens", status);
    assert!(validate(&doc, &schema, &rs).is_empty());
    rs["UsrTokenStat"] = json!("Active");
    rs.as_object_mut().unwrap().remove("TokenId");
    let errors = validate(&doc, &schema, &rs);
    assert_eq!(errors.len(), 2, "{errors:?}");
    let fault = json!({"MsgRsHdr": {"jXchangeHdr": {}, "MsgRecInfoArray": []}});
    assert!(!validate(
        &doc,
        &answer_schema(&doc, "post", "/api/v1/tokens", 400),
        &fault
    )
    .is_empty());
}
