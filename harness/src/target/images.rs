//! The images of the container target, built from Debian's packages.
//!
//! No registry is assumed: the Debian base image is made with debootstrap and
//! `docker import` when no local image of that name exists (set
//! `MAILFLOW_BASE_IMAGE=debian:bookworm` on a machine that pulls from a
//! registry). The lists image is built from `containers/lists/` and tagged
//! with a hash of its inputs, so an unchanged image is reused without even
//! asking Docker to build.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::docker::{docker, image_exists};
use super::TargetError;

pub const DEFAULT_BASE_IMAGE: &str = "mailflow/debian:bookworm";
const SUITE: &str = "bookworm";

/// What preparing one image did, for the report.
#[derive(Debug, Clone)]
pub struct ImageReport {
    pub image: String,
    pub built: bool,
    pub took: Duration,
}

/// The `containers/` folder: `MAILFLOW_CONTAINERS_DIR`, else the source tree's.
pub fn containers_dir() -> PathBuf {
    std::env::var_os("MAILFLOW_CONTAINERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../containers"))
}

/// Makes sure the base image exists, building it with debootstrap if needed.
pub async fn ensure_base_image() -> Result<ImageReport, TargetError> {
    let started = Instant::now();
    let name = std::env::var("MAILFLOW_BASE_IMAGE").unwrap_or_else(|_| DEFAULT_BASE_IMAGE.to_string());
    if image_exists(&name).await {
        return Ok(ImageReport { image: name, built: false, took: started.elapsed() });
    }
    if name != DEFAULT_BASE_IMAGE {
        return Err(TargetError::ImageBuild {
            image: name,
            message: "MAILFLOW_BASE_IMAGE names an image that is not present locally; pull or build it first".into(),
        });
    }
    let mirror = debian_mirror()?;
    let dir = tempdir("mailflow-rootfs")?;
    crate::report::log::note(&format!("building base image {name} with debootstrap from {mirror} (about half a minute)"));
    let out = tokio::time::timeout(
        Duration::from_secs(900),
        Command::new("debootstrap")
            .args(["--variant=minbase", SUITE])
            .arg(&dir)
            .arg(&mirror)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| TargetError::Timeout { what: "debootstrap".into(), after: Duration::from_secs(900) })?
    .map_err(|e| TargetError::ImageBuild {
        image: name.clone(),
        message: format!("cannot run debootstrap ({e}); install it (apt-get install debootstrap) or set MAILFLOW_BASE_IMAGE"),
    })?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(TargetError::ImageBuild { image: name, message: format!("debootstrap failed: {}", tail(&out.stdout, &out.stderr)) });
    }
    let import = import_rootfs(&dir, &name).await;
    let _ = std::fs::remove_dir_all(&dir);
    import?;
    Ok(ImageReport { image: name, built: true, took: started.elapsed() })
}

async fn import_rootfs(dir: &Path, name: &str) -> Result<(), TargetError> {
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut import = Command::new("docker")
        .args(["import", "-", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut tar_out = tar.stdout.take().expect("piped");
    let mut import_in = import.stdin.take().expect("piped");
    let copy = async {
        tokio::io::copy(&mut tar_out, &mut import_in).await?;
        import_in.shutdown().await?;
        drop(import_in);
        Ok::<_, std::io::Error>(())
    };
    tokio::time::timeout(Duration::from_secs(300), copy)
        .await
        .map_err(|_| TargetError::Timeout { what: "docker import".into(), after: Duration::from_secs(300) })??;
    let out = import.wait_with_output().await?;
    tar.wait().await?;
    if !out.status.success() {
        return Err(TargetError::ImageBuild { image: name.into(), message: tail(b"", &out.stderr) });
    }
    Ok(())
}

/// Builds (or reuses) the image from `containers/<name>/` on top of `base`.
pub async fn ensure_image(name: &str, base: &str) -> Result<ImageReport, TargetError> {
    let started = Instant::now();
    let dir = containers_dir().join(name);
    let base_id = docker(&["image", "inspect", "--format", "{{.Id}}", base], Duration::from_secs(20)).await?;
    let tag = format!("mailflow/{name}:{:016x}", inputs_hash(&dir, base_id.trim())?);
    if image_exists(&tag).await {
        return Ok(ImageReport { image: tag, built: false, took: started.elapsed() });
    }
    crate::report::log::note(&format!("building image {tag} from {} (first build installs Debian packages: a few minutes)", dir.display()));
    let limit = Duration::from_secs(1800);
    let out = tokio::time::timeout(
        limit,
        Command::new("docker")
            .args(["build", "--build-arg", &format!("BASE_IMAGE={base}"), "-t", &tag])
            .arg(&dir)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| TargetError::Timeout { what: format!("docker build of {tag}"), after: limit })??;
    if !out.status.success() {
        return Err(TargetError::ImageBuild { image: tag, message: tail(&out.stdout, &out.stderr) });
    }
    Ok(ImageReport { image: tag, built: true, took: started.elapsed() })
}

/// FNV-1a over every file's relative path and contents, and the base image id:
/// stable across toolchains, unlike std's hasher.
fn inputs_hash(dir: &Path, base_id: &str) -> Result<u64, TargetError> {
    let mut files = Vec::new();
    collect_files(dir, dir, &mut files).map_err(|e| TargetError::ImageBuild {
        image: dir.display().to_string(),
        message: format!("cannot read the image's files: {e}"),
    })?;
    files.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(base_id.as_bytes());
    for (rel, path) in files {
        feed(rel.as_bytes());
        feed(&[0]);
        feed(&std::fs::read(&path)?);
        feed(&[0]);
    }
    Ok(h)
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
            out.push((rel, path));
        }
    }
    Ok(())
}

/// The Debian mirror: `MAILFLOW_DEBIAN_MIRROR`, else the machine's apt sources.
pub fn debian_mirror() -> Result<String, TargetError> {
    if let Ok(m) = std::env::var("MAILFLOW_DEBIAN_MIRROR") {
        return Ok(m);
    }
    let mut texts = Vec::new();
    for p in ["/etc/apt/sources.list"] {
        if let Ok(t) = std::fs::read_to_string(p) {
            texts.push(t);
        }
    }
    if let Ok(rd) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            if let Ok(t) = std::fs::read_to_string(&p) {
                texts.push(t);
            }
        }
    }
    texts.iter().find_map(|t| mirror_from_sources(t)).ok_or_else(|| TargetError::ImageBuild {
        image: DEFAULT_BASE_IMAGE.into(),
        message: "no Debian bookworm mirror in /etc/apt/sources.list*; set MAILFLOW_DEBIAN_MIRROR".into(),
    })
}

/// First URI serving the bookworm suite, in one-line or deb822 format.
fn mirror_from_sources(text: &str) -> Option<String> {
    // One-line: `deb [opts] URI SUITE COMPONENTS`.
    for line in text.lines().map(str::trim) {
        let mut words = line.split_whitespace().filter(|w| !w.starts_with('[') && !w.ends_with(']'));
        if words.next() == Some("deb") {
            if let (Some(uri), Some(suite)) = (words.next(), words.next()) {
                if suite == SUITE {
                    return Some(uri.to_string());
                }
            }
        }
    }
    // deb822: paragraphs with `URIs:` and `Suites:`.
    for para in text.split("\n\n") {
        let field = |name: &str| {
            para.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
        };
        let (Some(uris), Some(suites)) = (field("URIs:"), field("Suites:")) else { continue };
        let types = field("Types:").unwrap_or_else(|| "deb".into());
        if types.split_whitespace().any(|t| t == "deb") && suites.split_whitespace().any(|s| s == SUITE) {
            return uris.split_whitespace().next().map(str::to_string);
        }
    }
    None
}

fn tempdir(prefix: &str) -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The last lines of a failed command's output, for the error message.
fn tail(stdout: &[u8], stderr: &[u8]) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(stdout), String::from_utf8_lossy(stderr));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(25)..].join("\n")
}

#[cfg(test)]
mod tests {
    //! Hand-made apt sources.
    use super::*;

    #[test]
    fn mirrors() {
        let deb822 = "Types: deb\n# comment\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n";
        assert_eq!(mirror_from_sources(deb822).as_deref(), Some("http://deb.debian.org/debian"));
        let one_line = "deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\ndeb [arch=amd64] http://mirror.example/debian bookworm main\n";
        assert_eq!(mirror_from_sources(one_line).as_deref(), Some("http://mirror.example/debian"));
        assert_eq!(mirror_from_sources("Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\n"), None);
    }
}
