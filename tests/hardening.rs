//! What a user, or another user of the machine, can do to the paths, streams, signals and
//! resources of a conversion: it never overwrites a file it was not asked to write, never leaves
//! a corrupt file with exit 0, never hangs and never panics.

mod common;
use common::*;
use ds2gguf::synth::SynthSpec;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn tiny() -> tempfile::TempDir {
    synth(&SynthSpec::default())
}

fn run(cmd: &mut Command) -> Output {
    let o = cmd.output().unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!e.contains("panicked"), "{e}");
    o
}

fn convert_cmd(dir: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = bin();
    c.arg("convert")
        .arg(dir)
        .arg("-o")
        .arg(out)
        .args(["--quiet"])
        .args(extra);
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: valid path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Runs a command with a wall-clock bound: it must finish (a hang is a failure).
fn run_bounded(mut cmd: Command, secs: u64) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if t0.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            panic!("command did not finish within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn planted_symlinks_are_never_followed() {
    let d = tiny();
    let out_dir = tempfile::tempdir().unwrap();
    let victim = out_dir.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    // the old fixed temporary name, and the output name itself, point at the victim
    let out = out_dir.path().join("out.gguf");
    std::os::unix::fs::symlink(&victim, out_dir.path().join("out.gguf.partial")).unwrap();
    std::os::unix::fs::symlink(&victim, &out).unwrap();
    let o = run(&mut convert_cmd(d.path(), &out, &["--outtype", "bf16"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    // the symlink at the output path was replaced by the file
    let m = std::fs::symlink_metadata(&out).unwrap();
    assert!(m.is_file());
    read(&out);
    let names = ls(out_dir.path());
    assert_eq!(
        names,
        ["out.gguf", "out.gguf.partial", "victim.txt"],
        "{names:?}"
    );
}

#[test]
fn plan_creates_nothing() {
    let d = tiny();
    let out_dir = tempfile::tempdir().unwrap();
    let o = run(bin()
        .arg("plan")
        .arg(d.path())
        .arg("-o")
        .arg(out_dir.path().join("out.gguf")));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(ls(out_dir.path()).is_empty());
}

#[test]
fn concurrent_conversions_to_one_output_give_one_complete_file() {
    let d = tiny();
    let (_t, out) = out_path("out.gguf");
    let refs = tempfile::tempdir().unwrap();
    let mut want = Vec::new();
    for t in ["bf16", "q8_0"] {
        let r = refs.path().join(format!("{t}.gguf"));
        convert(d.path(), &r, t, &[]);
        want.push(std::fs::read(&r).unwrap());
    }
    for _ in 0..3 {
        let a = convert_cmd(d.path(), &out, &["--outtype", "bf16"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let b = convert_cmd(d.path(), &out, &["--outtype", "q8_0"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        assert!(
            a.status.success() && b.status.success(),
            "{} {}",
            stderr(&a),
            stderr(&b)
        );
        let got = std::fs::read(&out).unwrap();
        assert!(
            want.contains(&got),
            "the output is neither conversion's file"
        );
        assert_eq!(ls(out.parent().unwrap()), ["out.gguf"]);
    }
}

#[test]
fn special_output_paths() {
    let d = tiny();
    // /dev/null is written into, not replaced
    let o = run(&mut convert_cmd(d.path(), Path::new("/dev/null"), &[]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device_like()
    );
    // a directory, a socket: refused, untouched
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("adir");
    std::fs::create_dir(&dir).unwrap();
    let o = run(&mut convert_cmd(d.path(), &dir, &[]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("directory"), "{}", stderr(&o));
    assert!(dir.is_dir());
    let sock = t.path().join("sock");
    let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let o = run(&mut convert_cmd(d.path(), &sock, &[]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("socket"), "{}", stderr(&o));
    // a FIFO without a reader: a clear error, no hang
    let fifo = t.path().join("fifo");
    mkfifo(&fifo);
    let o = run_bounded(convert_cmd(d.path(), &fifo, &[]), 30);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no reader"), "{}", stderr(&o));
    // a FIFO with a reader gets the whole file
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    std::thread::sleep(Duration::from_millis(200));
    let o = run_bounded(convert_cmd(d.path(), &fifo, &["--outtype", "bf16"]), 60);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = reader.join().unwrap();
    let (_t2, file) = out_path("f.gguf");
    convert(d.path(), &file, "bf16", &[]);
    assert_eq!(got, std::fs::read(&file).unwrap());
}

trait CharDev {
    fn is_char_device_like(&self) -> bool;
}
impl CharDev for std::fs::FileType {
    fn is_char_device_like(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        self.is_char_device()
    }
}

#[test]
fn an_input_reached_through_links_is_never_the_output() {
    // a Hugging Face cache snapshot: files are symlinks into blobs/
    let src = tiny();
    let cache = tempfile::tempdir().unwrap();
    let blobs = cache.path().join("blobs");
    let snap = cache.path().join("snapshots/abc");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::create_dir_all(&snap).unwrap();
    for (i, name) in ls(src.path()).iter().enumerate() {
        let blob = blobs.join(format!("blob{i}"));
        std::fs::copy(src.path().join(name), &blob).unwrap();
        std::os::unix::fs::symlink(&blob, snap.join(name)).unwrap();
    }
    let shard_blob = std::fs::canonicalize(snap.join("model-00001-of-00003.safetensors")).unwrap();
    let before = std::fs::read(&shard_blob).unwrap();
    // the blob itself, a hard link to it, a symlink to it
    let hard = cache.path().join("hard.gguf");
    std::fs::hard_link(&shard_blob, &hard).unwrap();
    let soft = cache.path().join("soft.gguf");
    std::os::unix::fs::symlink(&shard_blob, &soft).unwrap();
    for out in [&shard_blob, &hard, &soft] {
        let o = run(&mut convert_cmd(&snap, out, &[]));
        assert_eq!(o.status.code(), Some(1), "{}", out.display());
        assert!(
            stderr(&o).contains("one of the input files"),
            "{}",
            stderr(&o)
        );
    }
    assert_eq!(std::fs::read(&shard_blob).unwrap(), before);
    // and the snapshot converts
    let (_t, out) = out_path("ok.gguf");
    convert(&snap, &out, "bf16", &[]);
}

#[test]
fn permission_bits_are_kept_and_new_files_follow_the_umask() {
    let d = tiny();
    let (_t, out) = out_path("out.gguf");
    convert(d.path(), &out, "bf16", &[]);
    let m = std::fs::metadata(&out).unwrap().mode() & 0o777;
    // SAFETY: reading and restoring the umask.
    let umask = unsafe {
        let u = libc::umask(0o022);
        libc::umask(u);
        u
    };
    assert_eq!(m, 0o666 & !(umask as u32));
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o640)).unwrap();
    let ino = std::fs::metadata(&out).unwrap().ino();
    convert(d.path(), &out, "q8_0", &[]);
    let m = std::fs::metadata(&out).unwrap();
    assert_eq!(m.mode() & 0o777, 0o640);
    assert_ne!(m.ino(), ino, "replaced by rename, not rewritten in place");
}

#[test]
fn names_at_the_filesystem_limit() {
    let d = tiny();
    let t = tempfile::tempdir().unwrap();
    let long = format!("{}.gguf", "m".repeat(250));
    let out = t.path().join(&long);
    convert(d.path(), &out, "bf16", &[]);
    assert_eq!(ls(t.path()), std::slice::from_ref(&long));
    // a split set's names are longer than the name given: plan -o says so, convert refuses
    let o = run(bin()
        .arg("plan")
        .arg(d.path())
        .args(["--split-max-tensors", "20", "-o"])
        .arg(&out));
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("problem") && text.contains("bytes"), "{text}");
    let o = run(&mut convert_cmd(
        d.path(),
        &out,
        &["--split-max-tensors", "20"],
    ));
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(ls(t.path()), [long]);
}

#[test]
fn non_regular_input_files_are_refused_without_blocking() {
    for name in [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "model.safetensors.index.json",
        "model-00002-of-00003.safetensors",
        "generation_config.json",
    ] {
        let d = tiny();
        let p = d.path().join(name);
        std::fs::remove_file(&p).unwrap();
        mkfifo(&p);
        let (_t, out) = out_path("out.gguf");
        let o = run_bounded(convert_cmd(d.path(), &out, &[]), 30);
        assert_eq!(o.status.code(), Some(1), "{name}");
        let e = stderr(&o);
        assert!(e.contains(name) && e.contains("FIFO"), "{name}: {e}");
        assert!(!out.exists());
    }
    // an inspect of a FIFO likewise
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("x.gguf");
    mkfifo(&p);
    let mut c = bin();
    c.arg("inspect").arg(&p);
    let o = run_bounded(c, 30);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("FIFO"));
}

#[test]
fn json_files_have_a_size_cap() {
    let d = tiny();
    // a sparse 300 MB tokenizer.json costs no disk
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(d.path().join("tokenizer.json"))
        .unwrap();
    f.set_len(300 << 20).unwrap();
    let (_t, out) = out_path("out.gguf");
    let o = run(&mut convert_cmd(d.path(), &out, &[]));
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("tokenizer.json") && e.contains("at most"), "{e}");
}

#[test]
fn a_shard_changed_during_the_conversion_is_detected() {
    let d = slow();
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("out.gguf");
    let child = convert_cmd(d.path(), &out, &["--outtype", "q6_k", "--threads", "1"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !ls(out_dir.path()).iter().any(|n| n.ends_with(".partial")) && t0.elapsed().as_secs() < 20
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    // append to a shard: its size and time change
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(d.path().join("model-00003-of-00003.safetensors"))
        .unwrap();
    f.write_all(&[0u8; 64]).unwrap();
    drop(f);
    let o = child.wait_with_output().unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("model-00003-of-00003.safetensors") && e.contains("changed"),
        "{e}"
    );
    assert!(ls(out_dir.path()).is_empty(), "{:?}", ls(out_dir.path()));
}

#[test]
fn synth_never_overwrites_or_follows_links() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("ck");
    let o = run(bin().arg("synth").arg(&dir));
    assert!(o.status.success(), "{}", stderr(&o));
    // not empty: refused without --force
    let o = run(bin().arg("synth").arg(&dir));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    // a planted symlink in place of config.json: --force replaces the link, not its target
    let victim = t.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    std::fs::remove_file(dir.join("config.json")).unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("config.json")).unwrap();
    let o = run(bin().arg("synth").arg(&dir).arg("--force"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(
        std::fs::symlink_metadata(dir.join("config.json"))
            .unwrap()
            .is_file()
    );
    // the directory itself a symlink: refused
    let link = t.path().join("link");
    std::os::unix::fs::symlink(t.path().join("elsewhere"), &link).unwrap();
    std::fs::create_dir(t.path().join("elsewhere")).unwrap();
    let o = run(bin().arg("synth").arg(&link));
    assert_eq!(o.status.code(), Some(1));
    assert!(ls(&t.path().join("elsewhere")).is_empty());
}

#[test]
fn closed_or_full_streams_never_panic() {
    let d = tiny();
    // plan's report into a pipe closed early
    let mut child = bin()
        .arg("plan")
        .arg(d.path())
        .arg("--tensors")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert!(matches!(o.status.code(), Some(0 | 141)), "{:?}", o.status);
    // a full stdout: an error, non-zero
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let o = run(bin().arg("plan").arg(d.path()).stdout(full));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("No space"), "{}", stderr(&o));
    // a full stderr must not cost the converted file
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let (_t, out) = out_path("out.gguf");
    let o = bin()
        .arg("convert")
        .arg(d.path())
        .arg("-o")
        .arg(&out)
        .stderr(full)
        .output()
        .unwrap();
    assert!(o.status.success());
    read(&out);
    // -o - into a closed pipe: an error exit, no panic
    let mut child = bin()
        .arg("convert")
        .arg(d.path())
        .args(["-o", "-", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert_ne!(o.status.code(), Some(0));
}

#[test]
fn signals_end_synth_and_leave_no_temporary_file() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("ck");
    let child = bin()
        .arg("synth")
        .arg(&dir)
        .args(["--preset", "medium"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !(dir.is_dir() && ls(&dir).iter().any(|n| n.ends_with(".partial")))
        && t0.elapsed().as_secs() < 20
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(128 + libc::SIGTERM), "{}", stderr(&o));
    assert!(
        !ls(&dir).iter().any(|n| n.ends_with(".partial")),
        "{:?}",
        ls(&dir)
    );
}

#[test]
fn threads_are_bounded() {
    let d = tiny();
    let (_t, out) = out_path("out.gguf");
    for n in ["0", "100000"] {
        let o = run(&mut convert_cmd(d.path(), &out, &["--threads", n]));
        assert_eq!(o.status.code(), Some(2), "--threads {n}");
    }
    let o = run(&mut convert_cmd(d.path(), &out, &["--threads", "256"]));
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_memory_limit_is_an_error_and_leaves_nothing() {
    let d = slow();
    let mut failures = 0;
    for mb in [64u64, 32, 24] {
        let out_dir = tempfile::tempdir().unwrap();
        let out = out_dir.path().join("out.gguf");
        let mut cmd = convert_cmd(d.path(), &out, &["--outtype", "q8_0"]);
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit in the child before exec.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: mb << 20,
                    rlim_max: mb << 20,
                };
                libc::setrlimit(libc::RLIMIT_AS, &lim);
                Ok(())
            });
        }
        let o = run(&mut cmd);
        let e = stderr(&o);
        if o.status.success() {
            read(&out);
            assert_eq!(ls(out_dir.path()), ["out.gguf"]);
        } else {
            failures += 1;
            assert!(e.contains("error"), "{mb} MB: {e}");
            assert!(
                ls(out_dir.path()).is_empty(),
                "{mb} MB: {:?}",
                ls(out_dir.path())
            );
        }
    }
    assert!(failures > 0, "no limit made the conversion fail");
}

#[test]
fn a_runaway_chat_template_is_a_warning_not_a_hang() {
    let d = tiny();
    let p = d.path().join("tokenizer_config.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    v["chat_template"] = serde_json::json!(
        "{% for a in range(100000) %}{% for b in range(100000) %}{{ b }}{% endfor %}{% endfor %}"
    );
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    let mut c = bin();
    c.arg("plan").arg(d.path());
    let o = run_bounded(c, 60);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("chat template"));
}

#[test]
fn inspect_escapes_names_and_reads_a_huge_template_in_little_memory() {
    let d = tiny();
    let p = d.path().join("tokenizer_config.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    // 70 MB of template, with terminal escape sequences in it
    let big = format!("\u{1b}[2J{}", "{{ bos_token }}x".repeat(70 << 16));
    v["chat_template"] = serde_json::json!(big);
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    let big_len = big.len();
    drop(big);
    drop(v);
    let (_t, out) = out_path("out.gguf");
    convert(d.path(), &out, "bf16", &[]);
    let o = run(bin().arg("inspect").arg(&out));
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    // peak memory of inspect, measured from a small parent (a child forked from this test
    // process would inherit its peak)
    let python = std::env::var("DS2GGUF_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = "import resource, subprocess, sys; \
                 subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True); \
                 print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)";
    let o = Command::new(python)
        .args(["-c", probe])
        .arg(env!("CARGO_BIN_EXE_ds2gguf"))
        .arg("inspect")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let peak_kb: u64 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
    assert!(
        peak_kb < 40 << 10,
        "inspect peaked at {peak_kb} KiB for a 70 MB string"
    );
    assert!(
        !text.contains('\u{1b}'),
        "control characters must be escaped"
    );
    assert!(
        text.contains("tokenizer.chat_template") && text.contains("bytes)"),
        "{}",
        &text[..2000.min(text.len())]
    );
    // --json prints the whole string
    let o = run(bin().arg("inspect").arg("--json").arg(&out));
    assert!(o.status.success());
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        j["files"][0]["metadata"]["tokenizer.chat_template"]
            .as_str()
            .map(str::len),
        Some(big_len)
    );
}

#[test]
fn inspect_refuses_an_absurd_split_count_at_once() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("x-00001-of-99999999999.gguf");
    std::fs::write(&p, b"GGUF").unwrap();
    let mut c = bin();
    c.arg("inspect").arg(&p);
    let o = run_bounded(c, 10);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("65535"), "{}", stderr(&o));
}
