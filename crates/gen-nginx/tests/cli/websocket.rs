//! An ASGI app under gunicorn with uvicorn's worker, in stage-django's entry
//! point, behind the generated server block: HTTP and a websocket echo
//! through nginx, the client's address as nginx saw it (a forged one not
//! believed), and what an open websocket sees when the server reloads
//! (SIGHUP, an upgrade's reload).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use debpipe_testkit::{KillOnDrop, NginxWrapper, ScratchApp, wait_until};

/// The app: a websocket echo saying which client it sees, HTTP answering
/// the same, and the lifespan protocol uvicorn speaks first.
const ECHO: &str = r#"async def application(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            m = await receive()
            await send({"type": m["type"] + ".complete"})
            if m["type"] == "lifespan.shutdown":
                return
    client = (scope.get("client") or ("none",))[0]
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            m = await receive()
            if m["type"] != "websocket.receive":
                return
            await send({"type": "websocket.send", "text": "echo " + m["text"] + " from " + client})
    else:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": ("client " + client).encode()})
"#;

/// A raw websocket client (RFC 6455): the handshake, masked text frames out,
/// frames in.
struct Ws(TcpStream);

impl Ws {
    fn connect(port: u16, path: &str) -> Result<Self, String> {
        let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: app.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             X-Real-IP: 6.6.6.6\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n"
        )
        .map_err(|e| e.to_string())?;
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut b).map_err(|e| e.to_string())?;
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        if !head.starts_with("HTTP/1.1 101") {
            return Err(head);
        }
        Ok(Self(s))
    }

    fn send(&mut self, text: &str) {
        let mask = [1u8, 2, 3, 4];
        let mut f = vec![0x81, 0x80 | u8::try_from(text.len()).unwrap()];
        f.extend(mask);
        f.extend(text.bytes().enumerate().map(|(i, c)| c ^ mask[i % 4]));
        self.0.write_all(&f).unwrap();
    }

    /// The next frame: (opcode, payload).
    fn recv(&mut self) -> (u8, Vec<u8>) {
        let mut h = [0u8; 2];
        self.0.read_exact(&mut h).unwrap();
        let len = match h[1] & 0x7f {
            126 => {
                let mut l = [0u8; 2];
                self.0.read_exact(&mut l).unwrap();
                usize::from(u16::from_be_bytes(l))
            }
            n => usize::from(n),
        };
        let mut p = vec![0u8; len];
        self.0.read_exact(&mut p).unwrap();
        (h[0] & 0x0f, p)
    }

    fn echo(&mut self, text: &str) -> String {
        self.send(text);
        let (op, p) = self.recv();
        assert_eq!(op, 1, "not a text frame: {p:?}");
        String::from_utf8(p).unwrap()
    }
}

/// Through nginx: HTTP to the ASGI app, a websocket echo on
/// `websocket_paths`, both seeing nginx's view of the client (127.0.0.1,
/// not the forged 6.6.6.6); on SIGHUP the open websocket is closed cleanly
/// with 1012 (service restart) and a new one echoes again. Negative
/// control: the same websocket request on the app's plain location (no
/// `Upgrade` passed on) is refused.
#[test]
fn a_websocket_echoes_through_nginx_and_a_reload_closes_it_with_1012() {
    let app = ScratchApp::new();
    app.with_gunicorn(&["uvicorn", "uvicorn_worker", "h11", "click", "wsproto"]);
    std::fs::write(app.app_dir.join("scratch_echo.py"), ECHO).unwrap();
    let port = debpipe_testkit::free_port();
    let pkg = "dpt-gen-nginx-ws";
    let json = format!(
        r#"{{"module":"scratch","version":"1.0","package":"{pkg}","app_dir":"{}","venv":"{}","user":"www-data","group":"www-data","app_server":"gunicorn-asgi","asgi":"scratch_echo","websocket_paths":["/ws/"],"location":"/","processes":1,"server":{{"listen":"127.0.0.1:{port}","server_name":["_"]}}}}"#,
        app.app_dir.display(),
        app.venv.display()
    );
    let spec = debpipe_core::AppSpec::from_json(std::path::Path::new("app.json"), json.as_bytes())
        .unwrap();
    // stage-django's entry point around the app, as the package has it: it
    // gives the app nginx's view of the client.
    std::fs::write(
        app.app_dir.join("debpipe_asgi.py"),
        stage_django::render_asgi(&spec).unwrap(),
    )
    .unwrap();
    let conf = app.dir.path().join("gunicorn.conf.py");
    std::fs::write(&conf, gen_gunicorn::render(&spec)).unwrap();
    let run = std::path::PathBuf::from(spec.runtime_dir());
    let _ = std::fs::remove_dir_all(&run);
    std::fs::create_dir_all(&run).unwrap();
    let (uid, gid) = debpipe_testkit::www_data();
    std::os::unix::fs::chown(&run, Some(uid), Some(gid)).unwrap();
    let log = app.dir.path().join("gunicorn.log");
    let out = || std::fs::File::create(&log).unwrap();
    let server = KillOnDrop(
        Command::new("setpriv")
            .args(["--reuid=www-data", "--regid=www-data", "--init-groups"])
            .arg(app.venv.join("bin/gunicorn"))
            .arg("--config")
            .arg(&conf)
            .current_dir(&app.app_dir)
            .stdout(out())
            .stderr(out())
            .spawn()
            .unwrap(),
    );
    let nginx_dir = NginxWrapper::new(&gen_nginx::render(&spec));
    nginx_dir.test().unwrap();
    let _nginx = nginx_dir.start();
    let logs = || std::fs::read_to_string(&log).unwrap_or_default();
    let http = || debpipe_testkit::http_get(port, "app.test", "/").unwrap_or_default();
    assert!(
        wait_until(30, || http().ends_with("client 127.0.0.1")),
        "no ASGI answer through nginx: {:?}\n{}",
        http(),
        logs()
    );

    let mut ws = Ws::connect(port, "/ws/echo").unwrap();
    assert_eq!(ws.echo("hello"), "echo hello from 127.0.0.1");

    // The reload an upgrade does: the open websocket is closed, cleanly.
    let st = Command::new("kill")
        .args(["-HUP", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let (op, payload) = ws.recv();
    assert_eq!(op, 8, "not a close frame: {payload:?}");
    let code = u16::from_be_bytes([payload[0], payload[1]]);
    eprintln!("on SIGHUP the open websocket got close code {code}");
    assert_eq!(code, 1012, "close code");
    let mut again = None;
    assert!(
        wait_until(30, || {
            again = Ws::connect(port, "/ws/echo").ok();
            again.is_some()
        }),
        "no websocket after the reload: {}",
        logs()
    );
    assert_eq!(again.unwrap().echo("again"), "echo again from 127.0.0.1");

    // Negative control: the plain location does not pass the upgrade on.
    let plain = Ws::connect(port, "/echo");
    assert!(plain.is_err(), "a websocket through the plain location");
    let _ = std::fs::remove_dir_all(&run);
}
