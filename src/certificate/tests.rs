//! Thumbprints against an independent computation (openssl's), PEM in Envoy's URL
//! encoding, and the XFCC parser: quoted values, several elements, garbage.

use super::xfcc::{Presented, Unread, nearest};
use super::*;
use std::borrow::Cow;

/// Made with `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes
/// -subj /CN=client-a.test -days 36500`; its thumbprint is what
/// `openssl x509 -outform der | openssl dgst -sha256 -binary | basenc --base64url` printed
/// (and `openssl x509 -fingerprint -sha256` in hex).
pub(crate) const CLIENT_A_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBiDCCAS2gAwIBAgIUPer7jr1xd0PwiKfnJCgfmfcPdFowCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNY2xpZW50LWEudGVzdDAgFw0yNjEyMDIwNDMwMzJaGA8yMTI2
MTEwODA0MzAzMlowGDEWMBQGA1UEAwwNY2xpZW50LWEudGVzdDBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABP4OFuA/niJiMGmVV7ZbzOXBq7froz7BZQVsFMGISdbs
2PiVFw6jSKAuEQieSZ2EJU+TWuoaUH6xSNs30HwneaSjUzBRMB0GA1UdDgQWBBRn
vvXpLkpqyVD/QNalHyE+j51TYTAfBgNVHSMEGDAWgBRnvvXpLkpqyVD/QNalHyE+
j51TYTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQDnGNZVMgtO
dMC6wHSxbCDsYywuKak5oyxTWoTPP2iyqQIhAIPywDOKHUpWkNu/hXhEDi/JbbRJ
q/1yMZdkL6uJ3KzP
-----END CERTIFICATE-----
";
pub(crate) const CLIENT_A_X5T: &str = "u9jtUFKFIgnofIuZqUqQ2wo4910B9YwG524SiWU30So";
const CLIENT_A_HEX: &str = "BBD8ED5052852209E87C8B99A94A90DB0A38F75D01F58C06E76E12896537D12A";

/// PEM as Envoy URL-encodes it (`urlEncodedPemEncodedPeerCertificate`).
pub(crate) fn envoy_encoded(pem: &str) -> String {
    pem.replace('\n', "%0A")
        .replace(' ', "%20")
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

fn x5t(pem: &[u8]) -> Option<String> {
    Thumbprint::of_pem(pem).map(|t| t.to_base64url())
}

#[test]
fn the_thumbprint_is_base64url_sha256_of_the_der_as_openssl_computes_it() {
    assert_eq!(x5t(CLIENT_A_PEM.as_bytes()).as_deref(), Some(CLIENT_A_X5T));
    let encoded = envoy_encoded(CLIENT_A_PEM);
    assert!(!encoded.contains(['\n', '+', '/', '=']));
    assert_eq!(x5t(encoded.as_bytes()).as_deref(), Some(CLIENT_A_X5T));
    // Lowercase escapes, CRLF line ends and surrounding whitespace read the same.
    let crlf = format!("\r\n {} \r\n", CLIENT_A_PEM.replace('\n', "\r\n"));
    assert_eq!(x5t(crlf.as_bytes()).as_deref(), Some(CLIENT_A_X5T));
    let lower = encoded.replace("%2F", "%2f");
    assert_eq!(x5t(lower.as_bytes()).as_deref(), Some(CLIENT_A_X5T));
    let hex = Thumbprint::from_hex(CLIENT_A_HEX.as_bytes()).expect("hex");
    assert_eq!(hex.to_base64url(), CLIENT_A_X5T);
    assert_eq!(
        Thumbprint::from_hex(CLIENT_A_HEX.to_ascii_lowercase().as_bytes()),
        Some(hex)
    );
    assert!(hex.matches(CLIENT_A_X5T));
    assert!(
        !hex.matches(&format!("{CLIENT_A_X5T}=")),
        "padding is another string"
    );
    assert!(
        !hex.matches(&CLIENT_A_X5T.to_ascii_lowercase()),
        "base64 is case-sensitive"
    );
}

#[test]
fn anything_but_one_pem_certificate_is_no_thumbprint() {
    let pem = CLIENT_A_PEM;
    let body_start = pem.find('\n').unwrap() + 1;
    let cases: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("two blocks", format!("{pem}{pem}")),
        ("text after", format!("{pem}junk")),
        ("text before", format!("junk{pem}")),
        (
            "a key, not a certificate",
            pem.replace("CERTIFICATE", "PRIVATE KEY"),
        ),
        ("no end", pem.replace("-----END CERTIFICATE-----", "")),
        ("a bad escape", envoy_encoded(pem).replacen("%0A", "%0G", 1)),
        ("a cut escape", format!("{}%0", pem.trim_end())),
        ("not base64", pem.replacen("MIIB", "MI*B", 1)),
        (
            "truncated DER",
            format!("{}{}", &pem[..body_start], &pem[body_start + 4..]),
        ),
        (
            "a DER not one SEQUENCE",
            "-----BEGIN CERTIFICATE-----\nAgEB\n-----END CERTIFICATE-----".into(),
        ),
        (
            "over the size bound",
            format!("{pem}{}", " ".repeat(MAX_CERTIFICATE_BYTES)),
        ),
    ];
    for (name, input) in cases {
        assert_eq!(x5t(input.as_bytes()), None, "{name}");
    }
    for hex in ["", "zz", &CLIENT_A_HEX[..62], &format!("{CLIENT_A_HEX}00")] {
        assert_eq!(Thumbprint::from_hex(hex.as_bytes()), None, "{hex:?}");
    }
}

#[test]
fn der_lengths_must_be_minimal_and_exact() {
    assert!(is_one_der_sequence(&[0x30, 0x00]));
    assert!(is_one_der_sequence(&[0x30, 0x01, 0x05]));
    assert!(!is_one_der_sequence(&[0x30, 0x02, 0x05]), "short");
    assert!(
        !is_one_der_sequence(&[0x30, 0x81, 0x01, 0x05]),
        "long form for a short length"
    );
    let mut long = vec![0x30, 0x81, 0x80];
    long.extend([0; 0x80]);
    assert!(is_one_der_sequence(&long));
    let mut padded = vec![0x30, 0x82, 0x00, 0x80];
    padded.extend([0; 0x80]);
    assert!(!is_one_der_sequence(&padded), "a leading zero length byte");
    assert!(!is_one_der_sequence(&[0x31, 0x00]), "a SET");
    assert!(!is_one_der_sequence(&[0x30, 0x80]), "indefinite length");
}

fn read(header: &str) -> Result<Presented<'_>, Unread> {
    nearest(&[header.as_bytes()])
}

fn hash(value: &str) -> Result<Presented<'_>, Unread> {
    Ok(Presented::Hash(Cow::Borrowed(value.as_bytes())))
}

#[test]
fn the_last_element_is_the_nearest_proxys_and_the_one_read() {
    assert_eq!(read("Hash=aa"), hash("aa"));
    assert_eq!(
        read("By=spiffe://front;Hash=aa;Subject=\"CN=a\",By=spiffe://edge;Hash=bb"),
        hash("bb")
    );
    // Repeated header lines are one list, in order; RFC 9110 list whitespace is allowed.
    assert_eq!(nearest(&[b"Hash=aa", b"Hash=bb , Hash=cc"]), hash("cc"));
    // Keys are case-insensitive; Hash wins over Cert (no PEM decode needed).
    assert_eq!(read("cert=PEM;HASH=aa"), hash("aa"));
    assert_eq!(
        read("Hash=aa,Cert=%2D%2D"),
        Ok(Presented::Cert(Cow::Borrowed(&b"%2D%2D"[..])))
    );
    // The last element with no certificate in it names none, whatever came before.
    assert_eq!(read("Hash=aa,By=spiffe://edge"), Err(Unread::NoCertificate));
    assert_eq!(nearest(&[]), Err(Unread::NoCertificate));
}

#[test]
fn quoted_values_may_hold_commas_semicolons_equals_and_escaped_quotes() {
    let header = r#"By=spiffe://front;Subject="CN=a, O=b; c=\"d\"";URI=spiffe://x,Subject="x,y";Cert="a\"b,c";Hash=ff"#;
    assert_eq!(read(header), hash("ff"));
    assert_eq!(
        read(r#"Subject="O=x,y";Cert="%2D\"q\",z""#),
        Ok(Presented::Cert(Cow::Owned(b"%2D\"q\",z".to_vec())))
    );
    assert_eq!(
        read(r#"Hash="aa""#),
        Ok(Presented::Hash(Cow::Borrowed(&b"aa"[..])))
    );
}

#[test]
fn garbage_anywhere_is_no_certificate() {
    for garbage in [
        "",
        "Hash",
        "=aa",
        "Hash=aa;",
        "Hash=aa,",
        ",Hash=aa",
        "Hash=aa,,Hash=bb",
        "Hash=aa;Hash=bb",
        "Cert=a;Cert=b",
        r#"Subject="unterminated;Hash=aa"#,
        r#"Subject="x"y;Hash=aa"#,
        r#"Subject="x\"#,
        "Hash=a\"a",
        "Hash=a\u{7f}",
        "Ha sh=aa",
        "Hash=aa bb",
        "Subject=\"a\nb\";Hash=aa",
        // A client's open quote ahead of the proxy's element swallows it, leaving text
        // after a closing quote: unreadable, never the client's Hash.
        r#"Hash=evil;X=",By=spiffe://edge;Hash=real;Subject="CN=a";URI=x"#,
    ] {
        assert_eq!(read(garbage), Err(Unread::Malformed), "{garbage:?}");
    }
    let huge = format!(
        "Subject=\"{}\",Hash=aa",
        "a".repeat(super::xfcc::MAX_HEADER_BYTES)
    );
    assert_eq!(read(&huge), Err(Unread::Malformed), "over the size bound");
}
