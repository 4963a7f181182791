//! `tollgate transparency verify`: trust on first use, consistency, fork detection.

use tollgate_receipts::keys::SigningKey;
use tollgate_receipts::note::{parse_note, Checkpoint};

use super::{arg, Sandbox, Server};

fn verify(sb: &Sandbox, server: &Server, state: &std::path::Path) -> super::Ran {
    sb.client(server, &["transparency", "verify", "--state", arg(state)])
}

#[test]
fn transparency_verify_trusts_the_first_checkpoint_and_accepts_a_consistent_successor() {
    let sb = Sandbox::new();
    let server = sb.start();
    sb.log_usage(&server, 3);
    let state = sb.path("state/checkpoint.note");
    let out = verify(&sb, &server, &state).expect(0);
    assert!(
        out.stdout.contains("trusted on first use"),
        "{}",
        out.stdout
    );
    let first = std::fs::read_to_string(&state).expect("state stored");

    sb.log_usage(&server, 2);
    let out = verify(&sb, &server, &state).expect(0);
    assert!(
        out.stdout.contains("size 5 extends the verified size 3"),
        "{}",
        out.stdout
    );
    assert_ne!(std::fs::read_to_string(&state).expect("state"), first);
}

/// A checkpoint of this server's log at `size` with a made-up root, signed with the
/// server's own key: what a server showing two histories would hand out.
fn forged(sb: &Sandbox, origin: &str, size: u64) -> String {
    let pem = std::fs::read_to_string(sb.data().join("signing-key.pem")).expect("key file");
    let key = SigningKey::from_pkcs8_pem(&pem).expect("a key");
    Checkpoint {
        origin: origin.to_string(),
        size,
        root: [7; 32],
    }
    .sign(&key)
    .expect("signs")
}

#[test]
fn a_checkpoint_that_does_not_extend_the_stored_one_is_reported_as_a_fork() {
    let sb = Sandbox::new();
    let server = sb.start();
    sb.log_usage(&server, 3);
    let state = sb.path("checkpoint.note");
    verify(&sb, &server, &state).expect(0);
    let genuine = std::fs::read_to_string(&state).expect("state");
    let text = parse_note(&genuine).expect("a note").text;
    let origin = Checkpoint::parse_body(&text).expect("a checkpoint").origin;

    for size in [3, 2] {
        let evil = forged(&sb, &origin, size);
        std::fs::write(&state, &evil).expect("writes");
        let out = verify(&sb, &server, &state).expect(1);
        assert!(
            out.stderr.contains("SECURITY ERROR: the log forked"),
            "size {size}: {}",
            out.stderr
        );
        assert!(out.stderr.contains(&evil), "both notes are shown");
        assert_eq!(
            std::fs::read_to_string(&state).expect("state"),
            evil,
            "the old state is kept"
        );
    }
}
