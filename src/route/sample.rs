//! A route table with every kind of matcher (exact, prefix with methods, case-folded
//! prefix, two globs, hosts, a named anonymous route), shared by the route property tests
//! and the `route` fuzz target so both exercise the same matchers. Not a public API.

/// The `routes:` section (append it to a config with providers).
pub const EVERY_MATCHER: &str = "routes:
  - name: named
    allow_anonymous: true
  - match: { path: /exact/one }
  - match: { path_prefix: /pre, methods: [GET, POST] }
  - match: { path_prefix: /ci, case_insensitive: true }
  - match: { path_glob: '/g/*/x/**/y*z' }
  - match: { path_glob: '/**/a/**/b/**', case_insensitive: true }
  - match: { hosts: ['*.example.com', exact.test, '[::1]'] }
";
