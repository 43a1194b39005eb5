use super::*;

#[test]
fn a_step_name_finds_its_dockerfile_line() {
    let dockerfile = "FROM scratch AS base\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"false\"]\nRUN busybox sh -c \\\n  'exit 3'\n";
    assert_eq!(
        dockerfile_line(dockerfile, "[base 2/3] RUN [\"/bin/busybox\", \"false\"]"),
        Some(3)
    );
    assert_eq!(
        dockerfile_line(dockerfile, "[base 3/3] RUN busybox sh -c   'exit 3'"),
        Some(4)
    );
    assert_eq!(
        dockerfile_line(dockerfile, "[internal] load metadata"),
        None
    );
}

#[test]
fn progress_becomes_numbered_step_lines_and_names_the_failed_step() {
    use bollard::moby::buildkit::v1::{Vertex, VertexLog};
    let vertex = |digest: &str, name: &str| {
        let mut v = Vertex {
            digest: digest.into(),
            name: name.into(),
            started: Some(Default::default()),
            ..Default::default()
        };
        if let Some(t) = v.started.as_mut() {
            t.seconds = 10;
        }
        v
    };
    let done = |mut v: Vertex| {
        v.completed = v.started;
        if let Some(t) = v.completed.as_mut() {
            t.seconds = 12;
        }
        v
    };
    let mut p = Progress::default();
    let first = StatusResponse {
        vertexes: vec![
            Vertex {
                cached: true,
                ..done(vertex("a", "[1/3] COPY busybox /bin/busybox"))
            },
            vertex("b", "[2/3] RUN make"),
        ],
        logs: vec![VertexLog {
            vertex: "b".into(),
            msg: b"compiling\n".to_vec(),
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_eq!(
        p.lines(&first),
        [
            "#1 [1/3] COPY busybox /bin/busybox",
            "#1 CACHED",
            "#2 [2/3] RUN make",
            "#2 compiling"
        ]
    );
    let second = StatusResponse {
        vertexes: vec![
            Vertex {
                error: "context canceled".into(),
                ..vertex("c", "[other 1/1] RUN sleep 9")
            },
            Vertex {
                error: "exit code: 2".into(),
                ..done(vertex("b", "[2/3] RUN make"))
            },
        ],
        ..Default::default()
    };
    assert_eq!(
        p.lines(&second),
        [
            "#3 [other 1/1] RUN sleep 9",
            "#3 ERROR: context canceled",
            "#2 ERROR: exit code: 2"
        ]
    );
    assert_eq!(p.failed.as_deref(), Some("[2/3] RUN make"));
}

#[test]
fn buildkit_only_syntax_is_found_with_its_line() {
    assert_eq!(needs_buildkit("FROM scratch\nCOPY a /a\n"), None);
    assert_eq!(
        needs_buildkit("FROM scratch\nCOPY a /a\nRUN --mount=type=cache,target=/c true\n"),
        Some((3, "`RUN --mount`"))
    );
    assert_eq!(
        needs_buildkit("FROM x\ncopy --link a /a\n"),
        Some((2, "`COPY --link`"))
    );
}
