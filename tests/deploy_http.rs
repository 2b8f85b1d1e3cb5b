//! The HTTP-mode and Kubernetes Gateway examples are kept honest where no proxy can run
//! them here: `envoy/envoy-http.yaml` passes `envoy --mode validate`; the Istio
//! `envoyExtAuthzHttp` provider, the Envoy Gateway `SecurityPolicy` and the Gateway API
//! `HTTPRoute` `ExternalAuth` filter use only the fields of their published schemas (the
//! lists below, from istio/api `EnvoyExternalAuthorizationHttpProvider`, Envoy Gateway
//! v1.9 `ext_auth_types.go` and GEP-1494 / Gateway API v1.6 experimental: no package ships
//! these schemas to validate against) and agree with the server's flags and ports.

use crate::deploy::{repo, validate_envoy, yaml};
use serde_json::Value;

/// Every key of the mapping `value` is one of `known` (a typo would be silently ignored by
/// a lenient controller, or rejected at apply time by a strict one).
fn only_known(value: &Value, known: &[&str], what: &str) {
    let map = value
        .as_object()
        .unwrap_or_else(|| panic!("{what} is a mapping"));
    for key in map.keys() {
        assert!(
            known.contains(&key.as_str()),
            "{what}: unknown field {key:?}"
        );
    }
}

#[test]
fn the_envoy_http_bootstrap_validates_and_names_the_documented_prefix() {
    let path = repo("envoy/envoy-http.yaml");
    validate_envoy(&path);
    let text = std::fs::read_to_string(&path).unwrap();
    for needed in [
        "path_prefix: /authz",
        "--http-envoy-path-prefix /authz",
        "--http-route-header x-authz-route",
        "- remove: x-authz-route",
        "failure_mode_allow: false",
    ] {
        assert!(text.contains(needed), "envoy-http.yaml lacks {needed:?}");
    }
}

#[test]
fn the_istio_http_provider_uses_only_schema_fields() {
    let provider = &yaml("envoy/istio/extension-provider-http.yaml")["spec"]["meshConfig"]["extensionProviders"]
        [0];
    only_known(
        provider,
        &["name", "envoyExtAuthzHttp"],
        "extensionProviders[0]",
    );
    let http = &provider["envoyExtAuthzHttp"];
    only_known(
        http,
        &[
            "service",
            "port",
            "timeout",
            "pathPrefix",
            "failOpen",
            "clearRouteCache",
            "statusOnError",
            "includeRequestHeadersInCheck",
            "includeAdditionalHeadersInCheck",
            "includeRequestBodyInCheck",
            "headersToUpstreamOnAllow",
            "headersToDownstreamOnDeny",
            "headersToDownstreamOnAllow",
        ],
        "envoyExtAuthzHttp",
    );
    assert_eq!(http["pathPrefix"], "/authz");
    assert_eq!(http["failOpen"], false);
    assert_eq!(http["statusOnError"], "503", "a string in Istio's schema");
    let entry = crate::deploy::object(
        &crate::deploy::rendered("istio-custom"),
        "ServiceEntry",
        None,
    )
    .clone();
    assert_eq!(entry["spec"]["hosts"][0], http["service"]);
    let upstream = http["headersToUpstreamOnAllow"].as_array().unwrap();
    assert!(upstream.iter().any(|h| h == "x-jwt-sub"));
}

#[test]
fn the_envoy_gateway_security_policy_uses_only_schema_fields() {
    let policy = yaml("envoy/gateway/securitypolicy.yaml");
    assert_eq!(policy["apiVersion"], "gateway.envoyproxy.io/v1alpha1");
    assert_eq!(policy["kind"], "SecurityPolicy");
    let spec = &policy["spec"];
    only_known(
        spec,
        &[
            "targetRefs",
            "targetSelectors",
            "extAuth",
            "jwt",
            "cors",
            "basicAuth",
            "apiKeyAuth",
            "oidc",
            "authorization",
        ],
        "spec",
    );
    assert_eq!(spec["targetRefs"][0]["kind"], "HTTPRoute");
    let ext = &spec["extAuth"];
    only_known(
        ext,
        &[
            "grpc",
            "http",
            "headersToExtAuth",
            "bodyToExtAuth",
            "timeout",
            "failOpen",
            "recomputeRoute",
            "includeRouteMetadata",
            "contextExtensions",
            "statusOnError",
        ],
        "spec.extAuth",
    );
    assert_eq!(ext["failOpen"], false);
    assert!(
        ext["headersToExtAuth"].is_null(),
        "the gRPC authorizer needs every header"
    );
    only_known(
        &ext["grpc"],
        &["backendRef", "backendRefs", "backendSettings"],
        "extAuth.grpc",
    );
    assert_eq!(ext["grpc"]["backendRefs"][0]["port"].as_u64(), Some(9191));
}

#[test]
fn the_gateway_api_external_auth_filter_uses_only_gep_1494_fields() {
    let route = yaml("envoy/gateway/httproute-externalauth.yaml");
    assert_eq!(route["apiVersion"], "gateway.networking.k8s.io/v1");
    assert_eq!(route["kind"], "HTTPRoute");
    let filter = &route["spec"]["rules"][0]["filters"][0];
    assert_eq!(filter["type"], "ExternalAuth");
    let auth = &filter["externalAuth"];
    only_known(
        auth,
        &["protocol", "backendRef", "grpc", "http", "forwardBody"],
        "externalAuth",
    );
    assert_eq!(auth["protocol"], "GRPC");
    assert_eq!(auth["backendRef"]["port"].as_u64(), Some(9191));
    assert!(
        auth["grpc"]["allowedHeaders"].is_null(),
        "empty: every header is sent"
    );
}
