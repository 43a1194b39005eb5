use super::*;

#[test]
fn names_are_made_valid() {
    assert_eq!(sanitize("Billing API"), "billing-api");
    assert_eq!(sanitize("_x"), "x");
    assert_eq!(sanitize("@@"), "app");
}

#[test]
fn every_proposed_name_passes_the_service_and_repository_rules() {
    let cases = [
        ("ünï", "n"),
        ("x..y", "x-y"),
        ("a___b", "a-b"),
        ("a__b", "a__b"),
        ("a_.b", "a-b"),
        ("-x-", "x"),
        ("Café API", "caf-api"),
        ("my.svc", "my.svc"),
        ("..", "app"),
    ];
    for (folder, want) in cases {
        let name = sanitize(folder);
        assert_eq!(name, want, "{folder}");
        assert!(
            crate::config::valid_service_name(&name),
            "{folder} → {name}"
        );
        assert_eq!(
            crate::config::repository_problem(&name),
            None,
            "{folder} → {name}"
        );
    }
    let long = sanitize(&format!("{}-_-x", "a".repeat(99)));
    assert!(crate::config::valid_service_name(&long), "{long}");
    assert_eq!(crate::config::repository_problem(&long), None);
}

#[test]
fn paths_relative_and_joined() {
    assert_eq!(relative("", "src/cart"), "../..");
    assert_eq!(
        relative("src/cart/src/Dockerfile", "src/cart"),
        "src/Dockerfile"
    );
    assert_eq!(relative("src/cart", "src/cart"), ".");
    assert_eq!(relative("other/x", "src/cart"), "../../other/x");
    assert_eq!(join_clean("src", "./a/../b"), Some("src/b".to_string()));
    assert_eq!(join_clean("", "../x"), None);
    assert_eq!(join_clean("", "/etc"), None);
    assert_eq!(join_clean("", "./"), Some(String::new()));
}

#[test]
fn compose_interpolation_is_compose_s() {
    let env: BTreeMap<String, String> = [("A".to_string(), "src/a/Dockerfile".to_string())].into();
    assert_eq!(
        compose::interpolate("${A}", &env).as_deref(),
        Some("src/a/Dockerfile")
    );
    assert_eq!(
        compose::interpolate("$A", &env).as_deref(),
        Some("src/a/Dockerfile")
    );
    assert_eq!(compose::interpolate("${B:-x}", &env).as_deref(), Some("x"));
    assert_eq!(compose::interpolate("$$A", &env).as_deref(), Some("$A"));
    assert_eq!(compose::interpolate("${B}", &env), None);
}

#[test_case::test_case("jest", true; "a runner")]
#[test_case::test_case("exit 0", false; "exit 0")]
#[test_case::test_case("echo \"no tests\" && exit 0", false; "echo then exit 0")]
#[test_case::test_case("echo \"Error: no test specified\" && exit 1", false; "npm's placeholder")]
#[test_case::test_case("echo skipping", false; "only an echo")]
#[test_case::test_case("tsc && vitest run", true; "a build then a runner")]
fn a_test_script_is_a_test_only_when_it_tests(script: &str, is: bool) {
    assert_eq!(test_commands::is_a_test(script), is);
}

#[test]
fn hostile_yaml_is_refused_not_expanded() {
    let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x]\n");
    for i in 0..70 {
        laughs.push_str(&format!("b{i}: &b{i} [*a, *a]\n"));
    }
    assert!(
        yaml::parse(&laughs)
            .unwrap_err()
            .to_string()
            .contains("aliases")
    );
    let deep = format!("{}x: 1\n", " ".repeat(600));
    assert!(yaml::parse(&deep).is_err());
    // Compose's flow list closed at its key's indentation is read.
    let docs = yaml::parse("services:\n  a:\n    command: [\n      \"x\"\n    ]\n    build: ./a\n")
        .unwrap();
    assert_eq!(
        yaml::text(&docs[0]["services"]["a"]["build"]).as_deref(),
        Some("./a")
    );
}

#[test]
fn go_work_uses_are_read() {
    let text = "go 1.22\n\nuse (\n\t./api\n\t./libs/log // logging\n)\nuse ./tools\n";
    assert_eq!(
        build_tools::go_work_uses(text),
        ["api", "libs/log", "tools"]
    );
}

#[test]
fn package_names_compare_as_python_and_npm_scopes_do() {
    assert_eq!(normalize("My_Lib.core"), "my-lib-core");
    assert_eq!(normalize("@clinic/common"), "common");
}

#[test]
fn npm_workspaces_with_yarn_give_libraries_services_and_yarn_test() {
    let dir = tempfile::tempdir().unwrap();
    let w = |p: &str, text: &str| {
        let path = dir.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    w(
        "package.json",
        r#"{"workspaces": {"packages": ["libs/**"]}}"#,
    );
    w("yarn.lock", "");
    w(
        "libs/js/format/package.json",
        r#"{"name": "@x/format", "scripts": {"test": "jest"}}"#,
    );
    w(
        "libs/js/api/package.json",
        r#"{"name": "api", "dependencies": {"@x/format": "1"}}"#,
    );
    w("libs/js/api/Dockerfile", "FROM scratch\n");
    let found = detect(dir.path(), &["prod".to_string()]);
    let names: Vec<(&str, bool)> = found
        .units
        .iter()
        .map(|u| (u.name.as_str(), u.image))
        .collect();
    assert_eq!(names, [("api", true), ("format", false)]);
    assert_eq!(found.units[1].test.as_ref().unwrap().value, "yarn test");
    assert_eq!(found.units[0].depends_on[0].name, "format");
    assert_eq!(found.triggers, ["ci.toml", "/yarn.lock"]);
}

#[test]
fn pnpm_workspace_packages_are_read() {
    let text = "packages:\n  - 'apps/*'\n  - \"libs/**\"\n  - '!**/test/**'\ncatalog:\n  - nope\n";
    assert_eq!(build_tools::pnpm_packages(text), ["apps/*", "libs/**"]);
}
