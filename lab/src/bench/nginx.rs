//! nginx as the servers part's yardstick: one worker process answering an empty 200, started by the bench from a
//! config it writes into a temp dir, and stopped by it.
//!
//! nginx runs as a foreign server of the lab (`process::Server`): in its own process group, killed with the lab,
//! ready when it answers. The port is the one the lab picks for foreign servers; the shell that starts nginx
//! writes it into `listen.conf`, which the main config includes, then `exec`s nginx (so the group leader is the
//! nginx master, and SIGTERM to the group is nginx's fast shutdown).

use super::tools::quoted;
use crate::plan::ServerSpec;
use std::io;
use std::path::Path;

/// The config: `daemon off` (the lab supervises it), one worker, no access log, keep-alive connections that are
/// never closed for their request count, and every path it may write (pid, error log, temp files) in `dir`, so it
/// runs without root and leaves nothing behind.
pub fn config(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        include {d}/listen.conf;
        location / {{ return 200 \"\"; }}
    }}
}}
"
    )
}

/// Writes the config into `dir` and returns nginx as a foreign server (`{port}` is filled in by the lab).
pub fn server_spec(nginx: &Path, dir: &Path) -> io::Result<ServerSpec> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("nginx.conf"), config(dir))?;
    let listen = dir.join("listen.conf");
    let command = format!(
        "printf 'listen 127.0.0.1:%s;\\n' {{port}} > {} && exec {} -p {} -c {} -e {}",
        quoted(&listen.display().to_string()),
        quoted(&nginx.display().to_string()),
        quoted(&dir.display().to_string()),
        quoted(&dir.join("nginx.conf").display().to_string()),
        quoted(&dir.join("error.log").display().to_string()),
    );
    Ok(ServerSpec::Foreign { name: "nginx".to_string(), command })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_keeps_everything_in_its_dir() {
        let text = config(Path::new("/tmp/x"));
        for needle in ["daemon off;", "worker_processes 1;", "access_log off;", "keepalive_requests 1000000;"] {
            assert!(text.contains(needle), "{needle}");
        }
        assert!(text.contains("pid /tmp/x/nginx.pid;") && text.contains("error_log /tmp/x/error.log"));
        assert!(text.contains("return 200 \"\";"));
    }
}
