"use strict";
// kmcbot dev chat: several simulated citizens talking to the bot side by side.
// Sends through POST /dev/send, reads the bot's replies from GET /dev/messages.
// Every text from the bot or the citizen goes in with textContent, never as HTML.
(function () {
  const POLL_MS = 700;
  const STORE = "kmcbot-dev-chat";
  const FIRST_NUMBER = 919800000001;
  const LANDMARKS = [
    ["Victoria Memorial", 22.5448, 88.3426],
    ["Howrah Bridge", 22.5851, 88.3468],
    ["Esplanade", 22.5646, 88.351],
    ["Park Street", 22.5526, 88.3529],
    ["Salt Lake Sector V", 22.5697, 88.4337],
    ["Jadavpur", 22.499, 88.3714],
    ["Dum Dum", 22.6218, 88.4238],
    ["Behala", 22.4986, 88.3105],
  ];

  const phones = document.getElementById("phones");
  const citizens = [];

  // ------------------------------------------------------------ small DOM helpers

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function button(cls, text, onClick) {
    const b = el("button", cls, text);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  // WhatsApp-style *bold* and clickable links, built from text nodes only.
  const TOKEN = /(https?:\/\/[^\s<>"]+)|\*([^*\n]+)\*/g;
  function appendRich(parent, text) {
    let last = 0;
    for (const m of text.matchAll(TOKEN)) {
      parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      if (m[1]) {
        const a = el("a", "", m[1]);
        a.href = m[1];
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        parent.appendChild(a);
      } else {
        parent.appendChild(el("strong", "", m[2]));
      }
      last = m.index + m[0].length;
    }
    parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function clock() {
    const d = new Date();
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }

  // ------------------------------------------------------------ persistence (this tab only)

  function load() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(STORE) || "null");
      if (saved && Array.isArray(saved.citizens)) return saved.citizens;
    } catch (e) { /* start afresh */ }
    return null;
  }

  function save() {
    const data = citizens.map((c) => ({ waId: c.waId, sent: c.sent.slice(-300) }));
    try { sessionStorage.setItem(STORE, JSON.stringify({ citizens: data })); } catch (e) { /* full */ }
  }

  // ------------------------------------------------------------ one citizen's phone

  function Citizen(waId, sent) {
    this.waId = waId;
    this.sent = sent || []; // what this citizen sent: {after: bot messages seen then, text, tag}
    this.seen = 0; // bot messages rendered
    this.queue = Promise.resolve();
    this.stopped = false;
    this.first = true; // the first poll renders everything, with what was sent before a reload
    this.build();
    this.poll();
  }

  Citizen.prototype.build = function () {
    const root = el("section", "phone");
    root.dataset.waId = this.waId;
    const head = el("div", "phone-head");
    head.appendChild(el("span", "avatar", "K"));
    const title = el("div", "phone-title");
    title.appendChild(el("div", "phone-name", "KMC Vaccine Booking"));
    title.appendChild(el("div", "phone-sub", "citizen +" + this.waId));
    head.appendChild(title);
    head.appendChild(button("close", "×", () => this.remove()));
    head.lastChild.title = "Remove this citizen";
    root.appendChild(head);

    this.log = el("div", "log");
    this.log.setAttribute("role", "log");
    this.log.appendChild(el("div", "day", "Today"));
    root.appendChild(this.log);

    const composer = el("form", "composer");
    const pin = button("pin", "📍", () => this.openLocation());
    pin.title = "Share a location";
    this.input = el("input");
    this.input.type = "text";
    this.input.placeholder = "Type a message";
    this.input.autocomplete = "off";
    this.input.maxLength = 4096;
    const sendBtn = el("button", "sendbtn", "➤");
    sendBtn.type = "submit";
    sendBtn.title = "Send";
    composer.appendChild(pin);
    composer.appendChild(this.input);
    composer.appendChild(sendBtn);
    composer.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const text = this.input.value;
      if (!text.trim()) return;
      this.input.value = "";
      this.send({ text: text }, text, "");
    });
    root.appendChild(composer);
    this.root = root;
    phones.appendChild(root);
    layout();
  };

  Citizen.prototype.remove = function () {
    this.stopped = true;
    this.root.remove();
    citizens.splice(citizens.indexOf(this), 1);
    save();
    layout();
  };

  Citizen.prototype.nearBottom = function () {
    return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 80;
  };

  Citizen.prototype.scroll = function (force) {
    if (force) this.log.scrollTop = this.log.scrollHeight;
  };

  Citizen.prototype.note = function (text, isError) {
    const stick = this.nearBottom();
    this.log.appendChild(el("div", isError ? "note error" : "note", text));
    this.scroll(stick);
  };

  Citizen.prototype.mine = function (record) {
    const msg = el("div", "msg me");
    const bubble = el("div", "bubble");
    if (record.tag) bubble.appendChild(el("span", "tag", record.tag));
    appendRich(bubble, record.text);
    if (record.sub) bubble.appendChild(el("span", "sub", record.sub));
    const meta = el("span", "meta", record.time || "");
    meta.appendChild(el("span", "ticks", "✓✓"));
    bubble.appendChild(meta);
    msg.appendChild(bubble);
    this.log.appendChild(msg);
  };

  // content: the /dev/send body without wa_id; text/tag: how the citizen's bubble reads.
  Citizen.prototype.send = function (content, text, tag, sub) {
    const record = { after: this.seen, text: text, tag: tag, sub: sub || "", time: clock() };
    this.sent.push(record);
    save();
    this.mine(record);
    this.scroll(true);
    const body = JSON.stringify(Object.assign({ wa_id: this.waId }, content));
    this.queue = this.queue.then(async () => {
      try {
        const resp = await fetch("/dev/send", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: body,
        });
        if (!resp.ok) {
          let why = "HTTP " + resp.status;
          try { why = (await resp.json()).error || why; } catch (e) { /* not JSON */ }
          this.note("Not delivered: " + why, true);
        }
      } catch (e) {
        this.note("Not delivered: the bot is not reachable", true);
      }
    });
  };

  Citizen.prototype.poll = async function () {
    if (this.stopped) return;
    try {
      const resp = await fetch("/dev/messages?wa_id=" + encodeURIComponent(this.waId), {
        cache: "no-store",
      });
      if (resp.ok) {
        const bodies = await resp.json();
        if (this.first || bodies.length < this.seen) this.rerender(bodies);
        else this.append(bodies);
        this.offline = false;
      } else if (!this.offline) {
        this.offline = true;
        this.note("/dev/messages answered HTTP " + resp.status, true);
      }
    } catch (e) {
      if (!this.offline) {
        this.offline = true;
        this.note("The bot is not reachable; retrying…", true);
      }
    }
    setTimeout(() => this.poll(), POLL_MS);
  };

  Citizen.prototype.append = function (bodies) {
    if (bodies.length === this.seen) return;
    const stick = this.nearBottom() || this.seen === 0;
    for (let i = this.seen; i < bodies.length; i++) {
      this.bot(bodies[i]);
      this.seen = i + 1;
    }
    this.root.dataset.botMessages = String(this.seen);
    this.scroll(stick);
  };

  // The first render (after a reload) or after the outbox was emptied: interleave
  // what this citizen sent with the bot's messages.
  Citizen.prototype.rerender = function (bodies) {
    this.first = false;
    while (this.log.children.length > 1) this.log.removeChild(this.log.lastChild);
    this.seen = 0;
    for (let i = 0; i <= bodies.length; i++) {
      for (const r of this.sent) {
        if (r.after === i || (i === bodies.length && r.after > i)) this.mine(r);
      }
      if (i < bodies.length) this.bot(bodies[i]);
    }
    this.seen = bodies.length;
    this.root.dataset.botMessages = String(this.seen);
    this.scroll(true);
  };

  // ------------------------------------------------------------ the bot's messages

  Citizen.prototype.bot = function (body) {
    const msg = el("div", "msg bot");
    const bubble = el("div", "bubble");
    msg.appendChild(bubble);
    const options = el("div", "options");
    const inter = body && body.type === "interactive" ? body.interactive || {} : null;
    if (body && body.type === "text") {
      appendRich(bubble, String((body.text || {}).body || ""));
    } else if (body && body.type === "template") {
      const t = body.template || {};
      bubble.appendChild(el("span", "tag", "template " + String(t.name || "")));
      const params = [];
      const quick = [];
      for (const c of t.components || []) {
        for (const p of c.parameters || []) {
          if (p.type === "text") params.push(String(p.text));
          if (p.type === "payload") quick.push(String(p.payload));
        }
      }
      appendRich(bubble, params.join("\n"));
      for (const payload of quick) {
        options.appendChild(button("opt", payload, () =>
          this.send({ choice: { id: payload, title: payload, list: false } }, payload, "")));
      }
    } else if (body && body.type === "image") {
      // A ticket's check-in QR: the image the dev outbox took as uploaded.
      const image = body.image || {};
      const img = document.createElement("img");
      img.className = "photo";
      img.alt = String(image.caption || "image");
      img.src = "/dev/media/" + encodeURIComponent(String(image.id || ""));
      bubble.classList.add("has-photo");
      bubble.appendChild(img);
      if (image.caption) appendRich(bubble, String(image.caption));
    } else if (inter) {
      const action = inter.action || {};
      appendRich(bubble, String((inter.body || {}).text || ""));
      if (inter.type === "button") {
        for (const b of action.buttons || []) {
          const r = b.reply || {};
          const id = String(r.id || "");
          const title = String(r.title || "");
          const opt = button("opt", title, () =>
            this.send({ choice: { id: id, title: title, list: false } }, title, ""));
          opt.dataset.optionId = id;
          options.appendChild(opt);
        }
      } else if (inter.type === "list") {
        const label = "☰ " + String(action.button || "Choose");
        options.appendChild(button("opt list-open", label, () =>
          this.openList(String(action.button || "Choose"), action.sections || [])));
      } else if (inter.type === "location_request_message") {
        options.appendChild(button("opt share-location", "📍 Share location", () =>
          this.openLocation()));
      }
    } else {
      bubble.appendChild(el("span", "tag", "unsupported message"));
      bubble.appendChild(document.createTextNode(JSON.stringify(body)));
    }
    const meta = el("span", "meta", clock());
    bubble.appendChild(meta);
    if (options.children.length) {
      bubble.classList.add("has-options");
      msg.appendChild(options);
    }
    this.log.appendChild(msg);
  };

  // ------------------------------------------------------------ bottom sheets

  Citizen.prototype.sheet = function (title) {
    this.closeSheet();
    const backdrop = el("div", "sheet-backdrop");
    const sheet = el("div", "sheet");
    sheet.setAttribute("role", "dialog");
    const head = el("div", "sheet-head");
    head.appendChild(button("x", "×", () => this.closeSheet()));
    head.appendChild(el("span", "", title));
    sheet.appendChild(head);
    const bodyEl = el("div", "sheet-body");
    sheet.appendChild(bodyEl);
    backdrop.appendChild(sheet);
    backdrop.addEventListener("click", (ev) => { if (ev.target === backdrop) this.closeSheet(); });
    this.root.appendChild(backdrop);
    this.openSheet = backdrop;
    return bodyEl;
  };

  Citizen.prototype.closeSheet = function () {
    if (this.openSheet) this.openSheet.remove();
    this.openSheet = null;
  };

  Citizen.prototype.openList = function (label, sections) {
    const bodyEl = this.sheet(label);
    for (const section of sections) {
      if (section.title) bodyEl.appendChild(el("div", "section-title", String(section.title)));
      for (const row of section.rows || []) {
        const id = String(row.id || "");
        const title = String(row.title || "");
        const desc = row.description ? String(row.description) : "";
        const b = button("row", undefined, () => {
          this.closeSheet();
          this.send({ choice: { id: id, title: title, list: true } }, title, "", desc);
        });
        b.dataset.optionId = id;
        b.appendChild(el("span", "row-title", title));
        if (desc) b.appendChild(el("span", "row-desc", desc));
        bodyEl.appendChild(b);
      }
    }
  };

  Citizen.prototype.openLocation = function () {
    const bodyEl = this.sheet("Share location");
    bodyEl.appendChild(el("div", "section-title", "Kolkata landmarks"));
    const share = (name, lat, lon) => {
      this.closeSheet();
      const where = lat.toFixed(4) + ", " + lon.toFixed(4);
      this.send({ location: { latitude: lat, longitude: lon } },
        name ? name + "\n" + where : where, "📍 Location");
    };
    for (const [name, lat, lon] of LANDMARKS) {
      const b = button("row landmark", undefined, () => share(name, lat, lon));
      b.appendChild(el("span", "row-title", name));
      b.appendChild(el("span", "row-desc", lat.toFixed(4) + ", " + lon.toFixed(4)));
      bodyEl.appendChild(b);
    }
    bodyEl.appendChild(el("div", "section-title", "Or type coordinates"));
    const form = el("form", "coords");
    const lat = el("input");
    const lon = el("input");
    lat.placeholder = "latitude";
    lon.placeholder = "longitude";
    lat.inputMode = lon.inputMode = "decimal";
    lat.className = "lat";
    lon.className = "lon";
    const go = el("button", "", "Send");
    go.type = "submit";
    form.appendChild(lat);
    form.appendChild(lon);
    form.appendChild(go);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const a = Number(lat.value.trim());
      const o = Number(lon.value.trim());
      if (!lat.value.trim() || !lon.value.trim() || !isFinite(a) || !isFinite(o) ||
          Math.abs(a) > 90 || Math.abs(o) > 180) {
        lat.setCustomValidity("latitude -90..90, longitude -180..180");
        lat.reportValidity();
        return;
      }
      share("", a, o);
    });
    lat.addEventListener("input", () => lat.setCustomValidity(""));
    bodyEl.appendChild(form);
  };

  // ------------------------------------------------------------ the page

  function layout() {
    phones.classList.toggle("many", citizens.length >= 3 && window.innerWidth >= 1100);
  }

  function add(waId, sent) {
    const c = new Citizen(waId, sent);
    citizens.push(c);
    save();
    layout();
    return c;
  }

  function nextNumber() {
    let n = FIRST_NUMBER;
    const taken = new Set(citizens.map((c) => c.waId));
    while (taken.has(String(n))) n++;
    return String(n);
  }

  document.getElementById("add-citizen").addEventListener("click", () => {
    const c = add(nextNumber());
    c.root.scrollIntoView({ behavior: "smooth" });
    c.input.focus();
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") for (const c of citizens) c.closeSheet();
  });
  window.addEventListener("resize", layout);

  const params = new URLSearchParams(location.search);
  const wanted = params.getAll("wa_id").filter((w) => /^\d{5,20}$/.test(w));
  const saved = load();
  if (wanted.length) {
    for (const w of wanted) add(w, ((saved || []).find((s) => s.waId === w) || {}).sent);
  } else if (saved && saved.length) {
    for (const s of saved) if (/^\d{5,20}$/.test(String(s.waId))) add(String(s.waId), s.sent);
  } else {
    const n = Math.min(Math.max(parseInt(params.get("citizens") || "2", 10) || 2, 1), 12);
    for (let i = 0; i < n; i++) add(nextNumber());
  }
})();
