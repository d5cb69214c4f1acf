//! Headless Chromium driven over the DevTools protocol (a WebSocket), for the tests that use a page
//! as a person does: open it, log in, type into fields, click buttons, choose a file for an
//! `<input type=file>`, wait for text, and keep screenshots as test artefacts under
//! `target/browser-artefacts/`. No browser automation crate: the protocol's few commands used here
//! are plain JSON. A test calls [`chromium_missing`] first and skips, saying so, where Chromium is
//! not installed (.ci/run installs it from Debian's packages).

// Each test binary that includes this module (`mod browser;`) uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long a page may take to appear after a navigation or a form's submission.
pub const PAGE: Duration = Duration::from_secs(20);

/// A child process killed when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// True (with a line saying why the test skips) when `chromium` cannot be started.
pub fn chromium_missing() -> bool {
    if Command::new("chromium").arg("--version").output().is_err() {
        println!("skipping the browser test: chromium is not installed (apt-get install chromium)");
        return true;
    }
    false
}

/// Where screenshots are kept: `target/browser-artefacts/` (not committed, kept after the run).
pub fn artefacts() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(tmp).join("browser-artefacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Headless Chromium and a DevTools session attached to its one page.
pub struct Browser {
    _process: Killed,
    socket: tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
    session: String,
    next_id: u64,
}

/// A string as a JavaScript literal.
pub fn js(s: &str) -> String {
    Value::from(s).to_string()
}

impl Browser {
    /// Starts Chromium with its own profile in `profile` (cookies are per profile: one person).
    pub fn open(profile: &Path) -> Browser {
        let mut child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-port=0",
                "--window-size=1366,768",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Chromium says where its DevTools endpoint is on stderr.
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut endpoint = None;
        let mut line = String::new();
        while endpoint.is_none() && err.read_line(&mut line).unwrap() > 0 {
            endpoint = line
                .trim()
                .strip_prefix("DevTools listening on ")
                .map(str::to_string);
            line.clear();
        }
        let endpoint = endpoint.expect("Chromium printed its DevTools endpoint");
        // Keep draining stderr so Chromium never blocks on a full pipe.
        std::thread::spawn(move || for _ in err.lines() {});
        let (socket, _) =
            tungstenite::connect(endpoint.as_str()).expect("connecting to Chromium's DevTools");
        let mut b = Browser {
            _process: Killed(child),
            socket,
            session: String::new(),
            next_id: 0,
        };
        let start = Instant::now();
        let target = loop {
            let targets = b.call(None, "Target.getTargets", json!({}));
            let page = targets["targetInfos"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["type"] == "page");
            if let Some(p) = page {
                break p["targetId"].as_str().unwrap().to_string();
            }
            assert!(start.elapsed() < PAGE, "no page: {targets}");
            std::thread::sleep(Duration::from_millis(100));
        };
        let attached = b.call(
            None,
            "Target.attachToTarget",
            json!({ "targetId": target, "flatten": true }),
        );
        b.session = attached["sessionId"].as_str().unwrap().to_string();
        b.viewport(1366, 768, false);
        b
    }

    /// One DevTools command (on the page's session when `session` is given): its result, or the
    /// protocol's error.
    fn try_call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, Value> {
        self.next_id += 1;
        let mut msg = json!({ "id": self.next_id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = s.into();
        }
        self.socket
            .send(tungstenite::Message::Text(msg.to_string().into()))
            .unwrap();
        loop {
            if let tungstenite::Message::Text(text) = self.socket.read().unwrap() {
                let v: Value = serde_json::from_str(text.as_str()).unwrap();
                if v["id"] == self.next_id {
                    return match v.get("error") {
                        Some(e) => Err(e.clone()),
                        None => Ok(v["result"].clone()),
                    };
                }
            }
        }
    }

    /// [`Browser::try_call`] that fails the test on an error.
    pub fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.try_call(session, method, params)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// A command on the page's session.
    pub fn page(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.call(Some(&session), method, params)
    }

    /// The value of a JavaScript expression in the page (a promise is awaited), or why there is
    /// none (a thrown exception, or a page that is being replaced).
    pub fn try_eval(&mut self, expr: &str) -> Result<Value, String> {
        let session = self.session.clone();
        let r = self
            .try_call(
                Some(&session),
                "Runtime.evaluate",
                json!({ "expression": expr, "returnByValue": true, "awaitPromise": true }),
            )
            .map_err(|e| e.to_string())?;
        if let Some(ex) = r.get("exceptionDetails") {
            return Err(format!("{expr}: {ex}"));
        }
        Ok(r["result"]["value"].clone())
    }

    /// The value of a JavaScript expression in the page; a thrown exception fails the test.
    pub fn eval(&mut self, expr: &str) -> Value {
        self.try_eval(expr).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The page's visible text.
    pub fn text(&mut self) -> String {
        self.try_eval("document.body ? document.body.innerText : ''")
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// Polls `expr` until it is true, up to `limit` (a page being replaced meanwhile is waited
    /// out); on time-out fails naming `what`, with the page's address and text.
    pub fn until(&mut self, what: &str, expr: &str, limit: Duration) {
        let start = Instant::now();
        while self.try_eval(expr) != Ok(Value::Bool(true)) {
            if start.elapsed() > limit {
                let href = self.try_eval("location.href").unwrap_or_default();
                let text = self.text();
                panic!("the page never showed {what}: {href}\n{text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the page's text contains `text`.
    pub fn wait_for_text(&mut self, text: &str, limit: Duration) {
        self.until(
            &format!("the text {text:?}"),
            &format!(
                "!!document.body && document.body.innerText.includes({})",
                js(text)
            ),
            limit,
        );
    }

    /// Marks the current document, so that [`Browser::wait_for_next_page`] knows it was left.
    fn mark(&mut self) {
        self.eval("window.__left = true");
    }

    /// Waits until the marked document was replaced by another one that finished loading.
    fn wait_for_next_page(&mut self) {
        self.until(
            "the next page",
            "window.__left !== true && document.readyState === 'complete'",
            PAGE,
        );
    }

    /// Goes to `url` and waits until the page (wherever it was sent) has loaded.
    pub fn go(&mut self, url: &str) {
        self.mark();
        self.page("Page.navigate", json!({ "url": url }));
        self.wait_for_next_page();
    }

    /// The page's address, path only.
    pub fn path(&mut self) -> String {
        self.eval("location.pathname").as_str().unwrap().to_string()
    }

    pub fn viewport(&mut self, width: u32, height: u32, mobile: bool) {
        self.page(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }),
        );
    }

    /// Asserts that `selector` finds an element; returns the selector as a JS literal.
    fn existing(&mut self, selector: &str) -> String {
        let sel = js(selector);
        assert_eq!(
            self.try_eval(&format!("!!document.querySelector({sel})")),
            Ok(Value::Bool(true)),
            "no element {selector} on {}:\n{}",
            self.eval("location.href"),
            self.text()
        );
        sel
    }

    /// Types `text` into the field `selector` as a person does: focus it, clear it, then the
    /// characters arrive as keyboard input (so the page's `input` handlers run).
    pub fn fill(&mut self, selector: &str, text: &str) {
        let sel = self.existing(selector);
        self.eval(&format!(
            "(() => {{ const el = document.querySelector({sel}); el.scrollIntoView({{block: 'center'}}); el.focus(); el.select && el.select(); return true; }})()"
        ));
        // Deleting the selection is a keystroke too, so the page sees the field emptied.
        self.page(
            "Input.dispatchKeyEvent",
            json!({ "type": "keyDown", "key": "Backspace", "code": "Backspace", "windowsVirtualKeyCode": 8 }),
        );
        self.page(
            "Input.dispatchKeyEvent",
            json!({ "type": "keyUp", "key": "Backspace", "code": "Backspace", "windowsVirtualKeyCode": 8 }),
        );
        if !text.is_empty() {
            self.page("Input.insertText", json!({ "text": text }));
        }
        assert_eq!(
            self.eval(&format!("document.querySelector({sel}).value")),
            Value::from(text),
            "typing into {selector}"
        );
    }

    /// Clicks the middle of the element `selector` with the mouse (it must be visible there, not
    /// covered), as a person does.
    pub fn click(&mut self, selector: &str) {
        let sel = self.existing(selector);
        let at = self.eval(&format!(
            "(() => {{ const el = document.querySelector({sel}); el.scrollIntoView({{block: 'center'}}); const r = el.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ));
        let (x, y) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
        let hit = self.eval(&format!(
            "(() => {{ const el = document.querySelector({sel}); const h = document.elementFromPoint({x}, {y}); return !!h && (h === el || el.contains(h)); }})()"
        ));
        assert_eq!(hit, Value::Bool(true), "{selector} is covered or not shown");
        for kind in ["mousePressed", "mouseReleased"] {
            self.page(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            );
        }
    }

    /// [`Browser::click`] on something that leads to another page, and waits for it.
    pub fn click_to_next_page(&mut self, selector: &str) {
        self.mark();
        self.click(selector);
        self.wait_for_next_page();
    }

    /// Chooses `file` in the `<input type=file>` `selector`, as the file dialog would.
    pub fn choose_file(&mut self, selector: &str, file: &Path) {
        self.existing(selector);
        let doc = self.page("DOM.getDocument", json!({ "depth": 0 }));
        let root = doc["root"]["nodeId"].clone();
        let node = self.page(
            "DOM.querySelector",
            json!({ "nodeId": root, "selector": selector }),
        );
        self.page(
            "DOM.setFileInputFiles",
            json!({ "nodeId": node["nodeId"], "files": [file.to_str().unwrap()] }),
        );
        let chosen = self.eval(&format!(
            "document.querySelector({}).files[0]?.name",
            js(selector)
        ));
        assert_eq!(
            chosen.as_str(),
            file.file_name().and_then(|n| n.to_str()),
            "the file was chosen"
        );
    }

    /// A PNG of the page as it is (the whole page, not only the window), kept as
    /// `target/browser-artefacts/NAME.png`; returns its path.
    pub fn screenshot(&mut self, name: &str) -> PathBuf {
        use base64::Engine as _;
        let r = self.page(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": true }),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap();
        let path = artefacts().join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Logs in at `base` (any service with the `bangfu-web` login): goes to `base/` unless a login
    /// form is already shown, types the name and password, submits, and waits to be sent on.
    pub fn login(&mut self, base: &str, username: &str, password: &str) {
        let on_form =
            "location.pathname === '/login' && !!document.querySelector('input[name=password]')";
        if self.try_eval(on_form) != Ok(Value::Bool(true)) {
            self.go(&format!("{base}/"));
        }
        self.until("the login form", on_form, PAGE);
        self.fill("input[name=username]", username);
        self.fill("input[name=password]", password);
        self.mark();
        self.click("form:has(input[name=password]) button[type=submit]");
        self.until(
            "the page after logging in",
            "window.__left !== true && document.readyState === 'complete' && location.pathname !== '/login'",
            PAGE,
        );
    }
}
