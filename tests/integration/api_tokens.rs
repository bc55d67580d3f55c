//! Enrollment (MFATokenAdd), the QR code, and activation, through the real server.

use serde_json::json;

use crate::support::{b32, fault, now_step, totp, TestServer};

/// Decodes a PNG QR code back to its text, as a phone camera would.
fn decode_qr(png_bytes: &[u8]) -> String {
    let decoder = png::Decoder::new(png_bytes);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    let (w, h) = (info.width as usize, info.height as usize);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code expected");
    grids[0].decode().unwrap().1
}

#[test]
fn enroll_scan_activate_validate_and_replay() {
    let server = TestServer::start();
    let (status, rs) = server.post(
        "/api/v1/tokens",
        &json!({"UsrName": "Jane Doe", "TokenType": "Software", "UsrTokenDesc": "phone"}),
    );
    assert_eq!(status, 200, "{rs}");
    assert_eq!(rs["UsrTokenStat"], "Init");
    assert_eq!(rs["UsrName"], "Jane Doe");
    let token = rs["TokenId"].as_str().unwrap().to_owned();
    let secret = rs["Secret"].as_str().unwrap();
    let seed = b32(secret);
    assert_eq!(seed.len(), 20, "SHA1 software seeds are 160 bits");
    let uri = rs["OtpAuthUri"].as_str().unwrap();
    assert_eq!(
        uri,
        format!("otpauth://totp/tokend:Jane%20Doe?secret={secret}&issuer=tokend&algorithm=SHA1&digits=6&period=30")
    );

    let (status, ct, cache, png) = server.get(rs["QRCodePng"].as_str().unwrap());
    assert_eq!(
        (status, ct.as_str(), cache.as_str()),
        (200, "image/png", "no-store")
    );
    assert_eq!(decode_qr(&png), uri, "the QR code carries the otpauth URI");
    let (status, ct, _, svg) = server.get(&format!("/api/v1/tokens/{token}/qr.svg"));
    assert_eq!((status, ct.as_str()), (200, "image/svg+xml"));
    assert!(String::from_utf8(svg).unwrap().contains("<svg"));

    let step = now_step(30);
    let code = totp(&seed, "SHA1", 6, step);
    let (status, rs) = server.post(
        &format!("/api/v1/tokens/{token}/activate"),
        &json!({"Code": code}),
    );
    assert_eq!(status, 200, "{rs}");
    assert_eq!(
        (rs["RsStat"].as_str(), rs["UsrTokenStat"].as_str()),
        (Some("Success"), Some("Act"))
    );

    let (status, _, _, body) = server.get(&format!("/api/v1/tokens/{token}/qr.png"));
    assert_eq!(status, 410, "the QR code is gone once the token is active");
    assert!(String::from_utf8(body).unwrap().contains("7033"));

    let replay = server.validate("Jane Doe", &code);
    assert_eq!(replay["RsStat"], "Failed", "the activation code was used");

    let next = totp(&seed, "SHA1", 6, step + 1);
    let ok = server.validate("Jane Doe", &next);
    assert_eq!(ok["RsStat"], "Success", "{ok}");
    assert_eq!(ok["TokenId"].as_str(), Some(token.as_str()));
    let receipt = ok["LastTrnRcptId"].as_str().unwrap();
    assert!(!receipt.is_empty());
    let when = ok["LastAuthenTimeDt"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(when).is_ok(), "{when}");
    assert!(when.ends_with("+00:00"), "ISO 8601 with offset: {when}");

    assert_eq!(
        server.validate("Jane Doe", &next)["RsStat"],
        "Failed",
        "a code passes once"
    );
}

#[test]
fn activation_with_a_wrong_code_fails_and_the_token_stays_init() {
    let server = TestServer::start();
    let (token, seed) = server.enroll("u1");
    let wrong = crate::support::wrong_code(&seed);
    let (status, rs) = server.post(
        &format!("/api/v1/tokens/{token}/activate"),
        &json!({"Code": wrong}),
    );
    assert_eq!(status, 200);
    assert_eq!(
        (rs["RsStat"].as_str(), rs["UsrTokenStat"].as_str()),
        (Some("Failed"), Some("Init"))
    );
    // An Init token does not validate, even with a right code.
    let code = totp(&seed, "SHA1", 6, now_step(30));
    assert_eq!(server.validate("u1", &code)["RsStat"], "Failed");
    // Activating twice is a state conflict.
    server.post(
        &format!("/api/v1/tokens/{token}/activate"),
        &json!({"Code": code}),
    );
    let (status, rs) = server.post(
        &format!("/api/v1/tokens/{token}/activate"),
        &json!({"Code": code}),
    );
    assert_eq!((status, fault(&rs).0.as_str()), (409, "7032"));
}

#[test]
fn sha256_and_sha512_tokens_get_full_size_seeds_and_their_own_codes() {
    let server = TestServer::start();
    for (alg, len, digits, period) in [("SHA256", 32, 8, 60), ("SHA512", 64, 6, 30)] {
        let usr = format!("user-{alg}");
        let (status, rs) = server.post(
            "/api/v1/tokens",
            &json!({"UsrName": usr, "TokenType": "Software", "Algorithm": alg, "Digits": digits, "Period": period}),
        );
        assert_eq!(status, 200, "{rs}");
        let seed = b32(rs["Secret"].as_str().unwrap());
        assert_eq!(seed.len(), len);
        let uri = rs["OtpAuthUri"].as_str().unwrap();
        assert!(
            uri.ends_with(&format!("algorithm={alg}&digits={digits}&period={period}")),
            "{uri}"
        );
        let token = rs["TokenId"].as_str().unwrap();
        let code = totp(&seed, alg, digits, now_step(period as u64));
        let (_, rs) = server.post(
            &format!("/api/v1/tokens/{token}/activate"),
            &json!({"Code": code}),
        );
        assert_eq!(rs["RsStat"], "Success", "{alg}: {rs}");
        let next = totp(&seed, alg, digits, now_step(period as u64) + 1);
        assert_eq!(server.validate(&usr, &next)["RsStat"], "Success", "{alg}");
    }
}

#[test]
fn hardware_tokens_bring_their_seed_and_get_no_secret_back() {
    let server = TestServer::start();
    let (status, rs) = server.post(
        "/api/v1/tokens",
        &json!({"UsrName": "bob", "TokenType": "Hardware", "TokenId": "HW-0001",
                "Seed": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "PhoneNum": "4175556652"}),
    );
    assert_eq!(status, 200, "{rs}");
    assert_eq!(rs["TokenId"], "HW-0001");
    assert!(rs.get("Secret").is_none() && rs.get("OtpAuthUri").is_none());
    let code = totp(b"12345678901234567890", "SHA1", 6, now_step(30));
    let (_, rs) = server.post("/api/v1/tokens/HW-0001/activate", &json!({"Code": code}));
    assert_eq!(rs["RsStat"], "Success");
    let (status, _, _, _) = server.get("/api/v1/tokens/HW-0001/qr.png");
    assert_eq!(status, 410, "hardware tokens have no enrollment QR code");
}

#[test]
fn enrollment_faults() {
    let server = TestServer::start();
    let add = |body: serde_json::Value| {
        let (status, rs) = server.post("/api/v1/tokens", &body);
        let (code, elem) = fault(&rs);
        (status, code, elem)
    };
    server.enroll_active("dup-owner");
    let (status, _) = server.post(
        "/api/v1/tokens",
        &json!({"UsrName": "a", "TokenType": "Software", "TokenId": "T-1"}),
    );
    assert_eq!(status, 200);
    assert_eq!(
        add(json!({"UsrName": "b", "TokenType": "Software", "TokenId": "T-1"})),
        (409, "7030".into(), Some("TokenId".into()))
    );
    assert_eq!(
        add(json!({"UsrName": "b", "TokenType": "Hardware", "Seed": "JBSWY3DPEHPK3PXP"})),
        (422, "7040".into(), Some("Seed".into())),
        "80-bit seeds are refused"
    );
    assert_eq!(
        add(json!({"UsrName": "b", "TokenType": "Hardware"})),
        (400, "3103".into(), Some("Seed".into()))
    );
    assert_eq!(
        add(json!({"UsrName": "b", "TokenType": "Hardware", "Seed": "not*base32"})),
        (422, "7042".into(), Some("Seed".into()))
    );
    assert_eq!(
        add(
            json!({"UsrName": "b", "TokenType": "Software", "Seed": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"})
        ),
        (422, "7043".into(), Some("Seed".into()))
    );
    assert_eq!(
        add(json!({"UsrName": "b", "TokenType": "Software", "PhoneNum": "555-1234"})),
        (422, "3147".into(), Some("PhoneNum".into()))
    );
    assert_eq!(
        add(json!({"UsrName": "b", "TokenType": "Software", "Digits": 7})),
        (400, "7001".into(), Some("Digits".into()))
    );
    assert_eq!(
        add(json!({"UsrName": "b", "TokenType": "Software", "Algorithm": "MD5"})),
        (400, "2005".into(), Some("Algorithm".into()))
    );
    assert_eq!(
        add(json!({"UsrName": "b", "TokenType": "Software", "TokenId": "has space"})),
        (400, "7001".into(), Some("TokenId".into()))
    );
    assert_eq!(
        add(json!({"TokenType": "Software"})),
        (400, "3103".into(), Some("UsrName".into()))
    );
    assert_eq!(
        add(json!({"UsrName": "", "TokenType": "Software"})),
        (400, "3103".into(), Some("UsrName".into()))
    );
}

#[test]
fn qr_of_an_unknown_token_is_404() {
    let server = TestServer::start();
    let (status, ct, _, _) = server.get("/api/v1/tokens/NOPE/qr.png");
    assert_eq!((status, ct.starts_with("application/json")), (404, true));
}
