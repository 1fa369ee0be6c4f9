// Tessera panel: the page at the printer. ES5 only, no framework, no build
// step: it runs in the embedded browsers of printers from 2013 on. Every
// screen is drawn by render(state) from the session the agent serves
// (docs/panel-api.md), whether it came over the websocket or by polling, so
// the two paths can never disagree. Text comes from the catalogues in
// /static/i18n/; a key is always a quoted literal in a call of t, or of N
// where it is only named: panel/i18n_test.go finds the keys by these forms.
(function () {
  'use strict';

  var LANGS = { en: 1, fr: 1, de: 1, cs: 1 };
  var PIN_MAX = 16;
  var SUMMARY_MS = 8000;
  var ERR_MS = 8000;
  var ACTIVITY_MS = 5000;
  var TECH_MS = 5000;
  var LOG_LINES = 30;
  // A contrast chosen at the idle screen by someone who then walks away
  // lasts this long without a tap.
  var THEME_IDLE_MS = 60000;
  var LAYOUTS = {
    en: ['1234567890', 'qwertyuiop', 'asdfghjkl', 'zxcvbnm'],
    fr: ['1234567890', 'azertyuiop', 'qsdfghjklm', 'wxcvbn'],
    de: ['1234567890', 'qwertzuiop', 'asdfghjkl', 'yxcvbnm'],
    cs: ['1234567890', 'qwertzuiop', 'asdfghjkl', 'yxcvbnm'],
    sym: ['1234567890', '!@#$%&*()', '-_=+.,;:/?', '\'"<>[]{}~\\']
  };
  var PRINTER_STATES = {
    ready: N('printer.ready'), idle: N('printer.ready'), printing: N('printer.printing'),
    processing: N('printer.printing'), 'warming-up': N('printer.warming_up'),
    sleeping: N('printer.sleeping'), attention: N('printer.attention'),
    unreachable: N('printer.unreachable'), stopped: N('printer.stopped')
  };
  var JOB_STATES = {
    held: N('job.held'), queued: N('job.queued'), sending: N('job.sending'),
    printing: N('job.printing'), printed: N('job.printed'), failed: N('job.failed'),
    uncertain: N('job.uncertain')
  };
  // reason_code words (panel/reason_test.go keeps REASONS and PRINTER_REASONS
  // complete); printer-KEYWORD says a printer.reasons keyword's.
  var REASONS = {
    stopped: N('reason.stopped'), damaged: N('reason.damaged'), uncertain: N('reason.uncertain'),
    asking: N('reason.asking'), 'not-sent': N('reason.not-sent'), 'format-unsupported': N('reason.format-unsupported'),
    busy: N('reason.busy'), 'claimed-elsewhere': N('reason.claimed-elsewhere'), 'no-claim': N('reason.no-claim'),
    'no-serial': N('reason.no-serial'), 'not-ready': N('reason.not-ready'), 'outside-hours': N('reason.outside-hours'),
    'copies-range': N('reason.copies-range'), 'too-long': N('reason.too-long'), 'not-in-list': N('reason.not-in-list'),
    'max-jobs': N('reason.max-jobs'), 'pages-unknown': N('job.unknown_pages'), quota: N('job.nofit'),
    conflict: N('reason.conflict'), 'cannot-release': N('reason.cannot-release')
  };
  var PRINTER_REASONS = {
    'media-jam': N('printer.reason.media-jam'), 'no-paper': N('printer.reason.no-paper'),
    'input-tray-empty': N('printer.reason.no-paper'), 'media-request': N('printer.reason.no-paper'),
    'low-paper': N('printer.reason.low-paper'), 'no-toner': N('printer.reason.no-toner'),
    'marker-supply-missing': N('printer.reason.no-toner'), 'low-toner': N('printer.reason.low-toner'),
    'door-open': N('printer.reason.door-open'), 'output-full': N('printer.reason.output-full'),
    'output-near-full': N('printer.reason.output-near-full'), 'input-tray-missing': N('printer.reason.input-tray-missing'),
    'output-tray-missing': N('printer.reason.input-tray-missing'), 'waste-full': N('printer.reason.waste-full'),
    'wrong-printer': N('printer.reason.wrong-printer'), unreachable: N('printer.unreachable'),
    offline: N('printer.stopped'), 'warming-up': N('printer.warming_up'), sleeping: N('printer.sleeping'),
    'service-requested': N('printer.attention'), 'critical-alert': N('printer.attention'),
    warning: N('printer.attention'), testing: N('printer.attention'), 'overdue-maintenance': N('printer.attention'),
    'waste-near-full': N('printer.attention'), 'part-end-of-life': N('printer.attention'),
    'part-near-end-of-life': N('printer.attention')
  };
  // The agent's notice and refusal codes (session package): each is said
  // from the catalogues; panel/notice_test.go keeps this list complete.
  var CODES = {
    'card-not-accepted': N('notice.card-not-accepted'), 'card-unreadable': N('notice.card-unreadable'),
    'cloud-unreachable': N('notice.cloud-unreachable'), 'card-unknown': N('notice.card-unknown'),
    'card-refused': N('notice.card-refused'), 'jobs-unavailable': N('notice.jobs-unavailable'),
    'disk-full': N('notice.disk-full'),
    'password-offline': N('notice.password-offline'), 'registration-offline': N('notice.registration-offline'),
    'card-unknown-offline': N('notice.card-unknown-offline'),
    'account-locked': N('notice.account-locked'),
    unavailable: N('notice.unavailable'), 'wrong-pin': N('notice.wrong-pin'), 'unknown-pin': N('notice.unknown-pin'),
    expired: N('notice.expired'), 'card-taken': N('notice.card-taken'),
    'registration-disabled': N('notice.registration-disabled'), locked: N('notice.locked'),
    'bad-credentials': N('notice.bad-credentials'), invalid: N('notice.invalid'), 'not-allowed': N('notice.not-allowed'),
    'wrong-state': N('notice.wrong-state'), 'too-many-cards': N('notice.too-many-cards'), refused: N('notice.refused'),
    wait: N('notice.wait'), 'no-stick': N('notice.no-stick'), 'stick-failed': N('notice.stick-failed')
  };
  var SOURCES = { hub: N('source.hub'), local: N('source.local'), cups: N('source.cups') };
  var ICONS = {
    hub: 'M7 18h10a4 4 0 0 0 .5-8 6 6 0 0 0-11.3 1.5A3.3 3.3 0 0 0 7 18z',
    local: 'M4 11l8-7 8 7v9h-5v-6H9v6H4z',
    cups: 'M7 4h10v4H7zM4 9h16v8h-3v3H7v-3H4zM9 15v3h6v-3z'
  };

  // app is the page's one piece of state besides the session: what the
  // person is typing or has selected, which the session does not hold.
  var app = {
    state: null, lang: '', cat: {}, skew: 0, expAt: 0,
    downSince: 0, wsDelay: 500, poll: /[?&]poll=1/.test(location.search),
    lastActivity: 0, listSig: '', items: {}, tech: null, hc: null, lastTap: 0,
    ui: freshUI(), summary: null, summaryUntil: 0, err: '', errUntil: 0
  };

  function freshUI() {
    return { mode: '', pin: '', user: '', pass: '', field: 'user', shift: false, sym: false,
      sel: {}, opts: {}, optFor: '', confirmDelete: false };
  }

  // N marks a key that is looked up later; it returns the key itself.
  function N(key) { return key; }

  function $(id) { return document.getElementById(id); }

  function plural(lang, n) {
    if (lang === 'cs') { return n === 1 ? 'one' : (n >= 2 && n <= 4 ? 'few' : 'other'); }
    if (lang === 'fr') { return n === 0 || n === 1 ? 'one' : 'other'; }
    return n === 1 ? 'one' : 'other';
  }

  function lookup(key) {
    var c = app.cat[app.lang];
    if (c && c.hasOwnProperty(key)) { return c[key]; }
    c = app.cat.en;
    if (c && c.hasOwnProperty(key)) { return c[key]; }
    return key;
  }

  // t returns the text of key with {name} replaced from vars; a plural
  // entry ({"one": ..., "few": ..., "other": ...}) is chosen by vars.n.
  function t(key, vars) {
    var s = lookup(key);
    if (typeof s === 'object') {
      var n = vars && typeof vars.n === 'number' ? vars.n : 0;
      s = s[plural(app.lang, n)] || s.other;
    }
    return String(s).replace(/\{(\w+)\}/g, function (m, k) {
      if (!vars || !vars.hasOwnProperty(k)) { return m; }
      return typeof vars[k] === 'number' ? num(vars[k]) : String(vars[k]);
    });
  }

  // num writes an integer with the catalogue's thousands separator.
  function num(n) {
    var neg = n < 0, s = String(Math.abs(Math.round(n))), out = '';
    while (s.length > 3) { out = t('fmt.group') + s.slice(-3) + out; s = s.slice(0, -3); }
    return (neg ? '-' : '') + s + out;
  }

  function pad(n) { return n < 10 ? '0' + n : String(n); }

  function time(ms) {
    var d = new Date(ms), h = d.getHours();
    return t('fmt.time', { H: pad(h), M: pad(d.getMinutes()), h12: String(h % 12 || 12),
      ap: h < 12 ? t('fmt.am') : t('fmt.pm') });
  }

  function date(ms) {
    var d = new Date(ms);
    return t('fmt.date', { d: String(d.getDate()), mo: String(d.getMonth() + 1), y: String(d.getFullYear()) });
  }

  function ago(iso) {
    var at = Date.parse(iso);
    if (isNaN(at)) { return ''; }
    var s = Math.max(0, Math.floor((Date.now() - at) / 1000));
    if (s < 60) { return t('time.now'); }
    if (s < 3600) { return t('time.min_ago', { n: Math.floor(s / 60) }); }
    if (s < 86400) { return t('time.h_ago', { n: Math.floor(s / 3600) }); }
    return date(at) + ' ' + time(at);
  }

  // serverTime turns an RFC 3339 time of the agent into this browser's
  // clock: a printer's clock can be minutes off.
  function serverTime(iso) { var v = Date.parse(iso); return isNaN(v) ? 0 : v - app.skew; }

  function secsLeft(ms) { return Math.max(0, Math.ceil((ms - Date.now()) / 1000)); }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function button(cls, act, text, data) {
    var b = el('button', 'btn ' + cls, text);
    b.setAttribute('data-act', act);
    if (data) { b.setAttribute('data-id', data); }
    return b;
  }

  function show(node, on) { if (on) { node.removeAttribute('hidden'); } else { node.setAttribute('hidden', ''); } }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  function icon(path, label) {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg'), p = document.createElementNS(ns, 'path');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('class', 'icon');
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', label);
    p.setAttribute('d', path);
    svg.appendChild(p);
    return svg;
  }

  // --- talking to the agent ---------------------------------------------

  // request sends one XHR; token, when given, is a technician's (Bearer).
  function request(method, path, body, done, token) {
    var x = new XMLHttpRequest();
    x.open(method, path, true);
    if (token) { x.setRequestHeader('Authorization', 'Bearer ' + token); }
    if (method !== 'GET' && method !== 'DELETE') { x.setRequestHeader('Content-Type', 'application/json'); }
    x.onreadystatechange = function () {
      if (x.readyState !== 4) { return; }
      var data = null;
      try { data = x.responseText ? JSON.parse(x.responseText) : null; } catch (e) { data = null; }
      if (done) { done(x.status, data); }
    };
    x.send(method === 'GET' || method === 'DELETE' ? null : JSON.stringify(body || {}));
  }

  // post sends a write; a session in the answer is drawn at once (the
  // websocket brings it too, a moment later), a refusal is said in words.
  function post(path, body, ok) {
    request('POST', path, body, function (status, data) {
      if (status >= 200 && status < 300) {
        if (data && data.state) { render(data); }
        if (ok) { ok(data); }
        return;
      }
      failed(status, data);
    });
  }

  function failed(status, data) {
    var e = data && data.error;
    var msg = codeWords(e && e.code, data && data.until) ||
      (e && e.message ? e.message : (status === 0 ? t('err.network') : t('err.generic')));
    say(msg);
  }

  // codeWords says a notice or a refusal of the agent (whose messages are
  // English) in the page's language, with the time it names (until, RFC
  // 3339); '' for a code the page does not know, whose message is shown.
  function codeWords(code, until) {
    if (!code || !CODES.hasOwnProperty(code)) { return ''; }
    var at = until ? serverTime(until) : 0;
    if (code === 'wait') { return t(CODES.wait, { n: Math.max(1, secsLeft(at)) }); }
    return t(CODES[code]) + (at ? ' ' + t('err.until', { time: time(at) }) : '');
  }

  function say(msg) {
    app.err = msg;
    app.errUntil = Date.now() + ERR_MS;
    if (app.state) { render(app.state); }
  }

  function down() { if (!app.downSince) { app.downSince = Date.now(); } }

  function up() { app.downSince = 0; }

  function connect() {
    if (app.poll || !window.WebSocket) { pollOnce(); return; }
    var ws;
    try {
      ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/v1/events');
    } catch (e) {
      retry();
      return;
    }
    ws.onopen = function () { app.wsDelay = 500; up(); };
    ws.onmessage = function (ev) {
      var s;
      try { s = JSON.parse(ev.data); } catch (e) { return; }
      up();
      render(s);
    };
    ws.onclose = retry;
  }

  // retry reconnects with a growing delay, up to 10 s; the banner says
  // "reconnecting" once the page has been cut off for 2 s.
  function retry() {
    down();
    setTimeout(connect, app.wsDelay);
    app.wsDelay = Math.min(app.wsDelay * 2, 10000);
  }

  function pollOnce() {
    request('GET', '/api/v1/session', null, function (status, data) {
      if (status === 200 && data) { up(); render(data); } else { down(); }
      setTimeout(pollOnce, 1000);
    });
  }

  function loadCatalogue(lang) {
    if (app.cat[lang] !== undefined) { return; }
    app.cat[lang] = null;
    request('GET', '/static/i18n/' + lang + '.json', null, function (status, data) {
      app.cat[lang] = status === 200 && data ? data : {};
      // Every catalogue has every key (panel/i18n_test.go): English, the
      // fallback, is fetched only when another one could not be.
      if (!(status === 200 && data) && lang !== 'en') { loadCatalogue('en'); }
      // Drawn once per language: draw them again with the words now here.
      staleJobs();
      $('kbd').removeAttribute('data-sig');
      $('pin-pad').removeAttribute('data-lang');
      translateStatic();
      if (app.state) { render(app.state); }
    });
  }

  function translateStatic() {
    var nodes = document.querySelectorAll('[data-i18n]');
    for (var i = 0; i < nodes.length; i++) { nodes[i].textContent = t(nodes[i].getAttribute('data-i18n')); }
    document.documentElement.setAttribute('lang', app.lang);
  }

  // --- render ------------------------------------------------------------

  // language: the user's own once signed in, the device's otherwise.
  function language(s) {
    var l = s.user && s.state === 'active' && s.user.language;
    if (l && LANGS[l.slice(0, 2)]) { return l.slice(0, 2); }
    l = s.language || '';
    return LANGS[l.slice(0, 2)] ? l.slice(0, 2) : 'en';
  }

  function render(s) {
    var prev = app.state;
    app.state = s;
    // Drawn again for the page's own sake (a tap), the times read when the
    // state came still hold.
    if (s !== prev) { readTimes(s); }
    if (prev && prev.state === 'active' && s.state !== 'active') { loggedOut(prev); }
    if (s.state !== 'active') {
      // The jobs of someone who left must not stay one frame longer.
      clear($('jobs'));
      app.listSig = '';
      app.items = {};
      app.ui.sel = {};
      app.ui.opts = {};
      app.ui.optFor = '';
      app.ui.confirmDelete = false;
    }
    if (prev && prev.state !== s.state) { app.ui.pin = ''; app.ui.pass = ''; }
    // The contrast a person chose is theirs: when their session (or its
    // prompt) ends, the page goes back to the device's theme.
    if (prev && prev.state !== 'idle' && s.state === 'idle') { app.hc = null; }
    var lang = language(s);
    if (lang !== app.lang) { app.lang = lang; app.listSig = ''; loadCatalogue(lang); translateStatic(); }
    // Drawn once its words are here (loadCatalogue draws it again then).
    if (!ready()) { return; }
    renderTheme(s);
    renderHeader(s);
    renderBanners(s);
    renderScreen(s);
    renderDialog(s);
  }

  // readTimes notes when the session ends by itself (expires_in_ms, on the
  // agent's clock) and how far this browser's clock is from the agent's.
  function readTimes(s) {
    if (typeof s.expires_in_ms !== 'number') { app.expAt = 0; return; }
    app.expAt = Date.now() + s.expires_in_ms;
    if (s.expires_at) { app.skew = Date.parse(s.expires_at) - app.expAt; }
  }

  function loggedOut(prev) {
    var color = 0, mono = 0;
    (prev.jobs || []).forEach(function (j) {
      if (j.state !== 'printed') { return; }
      var p = (j.pages || 0) * (j.copies || 1);
      if (j.color) { color += p; } else { mono += p; }
    });
    app.ui = freshUI();
    app.summary = color + mono > 0 ? { color: color, mono: mono } : null;
    app.summaryUntil = Date.now() + SUMMARY_MS;
  }

  // highContrast: the person's own choice (app.hc) while they are at the
  // printer, else the device's theme (config theme).
  function highContrast(s) { return app.hc !== null ? app.hc : s.theme === 'high-contrast'; }

  function renderTheme(s) {
    var hc = highContrast(s);
    document.body.className = hc ? 'hc' : '';
    $('theme-btn').setAttribute('aria-pressed', hc ? 'true' : 'false');
  }

  // printerWords: the printer's reasons, each known one from the catalogues,
  // else the agent's (English) message; each once, none the state's own.
  function printerWords(p, state) {
    var out = [state], r = p.reasons || [], m = p.messages || [], i, w;
    for (i = 0; i < Math.max(r.length, m.length); i++) {
      w = PRINTER_REASONS.hasOwnProperty(r[i]) ? t(PRINTER_REASONS[r[i]]) : m[i];
      if (w && out.indexOf(w) < 0) { out.push(w); }
    }
    return out.slice(1);
  }

  // reasonWords: a job's or a release result's reason from its reason_code,
  // the English reason only for a code the page does not know.
  function reasonWords(x) {
    var c = x.reason_code || '', k = c.slice(8), n = x.reason_n || 0;
    if (REASONS.hasOwnProperty(c)) { return t(REASONS[c], { n: n }); }
    if (c.indexOf('printer-') === 0 && PRINTER_REASONS.hasOwnProperty(k)) {
      // n: the pages printed before the printer stopped the job.
      return t('reason.printer', { what: t(PRINTER_REASONS[k]) }) + (n ? ' ' + t(REASONS.stopped, { n: n }) : '');
    }
    return x.reason || '';
  }

  // printerStatus: the printer's state in words, its reasons in words, and
  // the severity the colour says (never the colour alone).
  function printerStatus(p) {
    var words = t(PRINTER_STATES[p.state] || N('printer.unknown'));
    var sev = p.can_print === false || p.state === 'unreachable' || p.state === 'stopped' ? 'bad'
      : (p.state === 'attention' || (p.reasons && p.reasons.length) ? 'warn' : 'ok');
    return { words: words, why: printerWords(p, words), sev: sev };
  }

  function renderHeader(s) {
    var p = s.printer || {}, st = printerStatus(p);
    $('printer-name').textContent = p.name || 'Tessera';
    $('printer-loc').textContent = p.location || '';
    var pill = $('printer-state');
    // The reasons alone when there are some: they say more, and fit at 800 px.
    pill.textContent = st.why.length ? st.why.join(', ') : st.words;
    pill.className = 'pill ' + st.sev;
    var active = s.state === 'active' && s.user;
    $('who').textContent = active ? (s.user.full_name || s.user.username) : '';
    show($('logout'), !!active);
  }

  function banner(box, cls, text) { box.appendChild(el('div', 'banner ' + cls, text)); }

  function renderBanners(s) {
    var box = $('banners');
    clear(box);
    if (app.downSince && Date.now() - app.downSince >= 2000) { banner(box, 'warn', t('banner.reconnecting')); }
    // In offline mode badges and PINs still work (the credential cache):
    // the banner says how to sign in rather than that nothing works.
    if (s.offline_mode) { banner(box, 'warn', t('banner.offline_mode')); } else if (s.cloud !== 'online') { banner(box, 'bad', t('banner.offline') + (s.offline_since ? ' (' + ago(s.offline_since) + ')' : '')); }
    // A reader unplugged matters to whoever is about to badge, not to the
    // person already signed in, whose job list needs the room.
    (s.state === 'active' ? [] : s.readers || []).forEach(function (r) {
      if (!r.attached) { banner(box, 'warn', t('banner.reader', { name: r.name })); }
    });
    // A notice the screen itself says (the lock, the registration offer)
    // is not said twice.
    var said = { locked: s.state === 'locked', 'card-unknown': s.state === 'register-offered' };
    if (s.notice && !said[s.notice.code]) {
      var words = codeWords(s.notice.code, s.notice.until) || s.notice.message;
      if (words) { banner(box, 'info', words); }
    }
    if (app.err && Date.now() < app.errUntil) { banner(box, 'bad', app.err); } else { app.err = ''; }
  }

  function screenOf(s) {
    if (app.tech && app.tech.reset && app.tech.reset.step === 'pin' && (s.state === 'idle' || s.state === 'locked')) { return 'pin'; }
    if (app.tech && (s.state === 'idle' || s.state === 'locked')) { return 'tech'; }
    if (app.tech) { techClose(); }
    if (s.state === 'active') { return 'jobs'; }
    if (s.state === 'pin-required') { return 'pin'; }
    if (s.state === 'register-offered') { return 'form'; }
    if (s.state === 'locked') { return 'locked'; }
    if (app.summary && Date.now() < app.summaryUntil) { return 'summary'; }
    if (app.ui.mode === 'pin' || app.ui.mode === 'tech-pin') { return 'pin'; }
    if (app.ui.mode === 'password') { return 'form'; }
    return 'idle';
  }

  function renderScreen(s) {
    var name = screenOf(s), all = ['idle', 'pin', 'form', 'locked', 'jobs', 'summary', 'tech'];
    for (var i = 0; i < all.length; i++) { show($('scr-' + all[i]), all[i] === name); }
    show($('tech-btn'), name === 'idle');
    ({ idle: renderIdle, pin: renderPin, form: renderForm, locked: renderLocked,
      jobs: renderJobs, summary: renderSummary, tech: renderTech })[name](s);
  }

  function has(list, v) { return (list || []).indexOf(v) >= 0; }

  function renderIdle(s) {
    var login = s.login || [], st = printerStatus(s.printer || {});
    // Whoever walks up reads in full what the header's pill may have cut.
    var ps = $('idle-printer');
    ps.textContent = st.sev === 'ok' ? '' : st.words + (st.why.length ? t('fmt.colon') + st.why.join(', ') : '');
    ps.className = 'pstate ' + st.sev;
    show(ps, st.sev !== 'ok');
    show($('idle-swipe'), has(login, 'card') || has(login, 'card+pin'));
    show($('idle-pin'), has(login, 'pin'));
    show($('idle-pw'), has(login, 'password'));
    renderEnroll(s.enrollment, has(login, 'qr') && s.qr);
    var box = $('notifications');
    clear(box);
    (s.notifications || []).forEach(function (n) {
      var li = el('li', 'note ' + (n.level === 'warning' ? 'warn' : 'info'));
      li.appendChild(el('span', 'level', t(n.level === 'warning' ? N('note.warning') : N('note.info'))));
      li.appendChild(el('span', 'text', n.text));
      var b = button('ghost', 'dismiss', t('act.dismiss'), n.id);
      li.appendChild(b);
      box.appendChild(li);
    });
  }

  // Not enrolled: the claim code and the QR of the hub's claim page; else,
  // with QR login, the QR of its sign-in page (?u: a new code).
  function renderEnroll(e, q) {
    show($('idle-enroll'), !!(e || q));
    show($('enroll-head'), !!e);
    if (!e && !q) { return; }
    if (e) { $('enroll-code').textContent = e.code; }
    $('qr-cap').textContent = t(e ? N('enroll.scan') : N('qr.scan'));
    var src = '/api/v1/' + (e ? 'enrollment-qr.svg?code=' : 'login-qr.svg?u=') + encodeURIComponent(e ? e.code : q.url), img = $('enroll-qr');
    if (img.getAttribute('src') !== src) { img.setAttribute('src', src); }
  }

  function renderPin(s) {
    var name = s.user ? (s.user.full_name || s.user.username) : '';
    $('pin-title').textContent = resetting('pin') ? t('tech.reset_pin') : app.ui.mode === 'tech-pin' ? t('tech.pin')
      : (name ? t('pin.title_user', { name: name }) : t('pin.title'));
    var dots = $('pin-dots');
    clear(dots);
    for (var i = 0; i < app.ui.pin.length; i++) { dots.appendChild(el('span', 'dot')); }
    if (!app.ui.pin.length) { dots.appendChild(el('span', 'hint', t('pin.enter'))); }
    var pad = $('pin-pad');
    if (pad.getAttribute('data-lang') === app.lang) { return; }
    pad.setAttribute('data-lang', app.lang);
    clear(pad);
    '123456789'.split('').forEach(function (d) { pad.appendChild(key(d, 'digit')); });
    pad.appendChild(button('', 'pin-back', t('act.backspace')));
    pad.appendChild(key('0', 'digit'));
    pad.appendChild(button('primary', 'pin-ok', t('act.ok')));
    pad.appendChild(button('wide', 'cancel', t('act.cancel')));
  }

  function key(k, act) {
    var b = button('key', act, k);
    b.setAttribute('data-k', k);
    return b;
  }

  function renderForm(s) {
    var reg = s.state === 'register-offered';
    $('form-title').textContent = t(reg ? N('reg.title') : N('form.title'));
    $('form-help').textContent = reg ? t('reg.help') : '';
    $('f-user-v').textContent = app.ui.user;
    $('f-pass-v').textContent = new Array(app.ui.pass.length + 1).join('\u2022');
    $('f-user').className = 'field' + (app.ui.field === 'user' ? ' on' : '');
    $('f-pass').className = 'field' + (app.ui.field === 'pass' ? ' on' : '');
    renderKeyboard();
  }

  function renderKeyboard() {
    var kb = $('kbd'), rows = LAYOUTS[app.ui.sym ? 'sym' : app.lang] || LAYOUTS.en;
    var sig = app.lang + app.ui.sym + app.ui.shift;
    if (kb.getAttribute('data-sig') === sig) { return; }
    kb.setAttribute('data-sig', sig);
    clear(kb);
    rows.forEach(function (r) {
      var row = el('div', 'row');
      r.split('').forEach(function (c) { row.appendChild(key(app.ui.shift ? c.toUpperCase() : c, 'type')); });
      kb.appendChild(row);
    });
    var last = el('div', 'row');
    last.appendChild(button('key mod' + (app.ui.shift ? ' on' : ''), 'shift', t('kbd.shift')));
    last.appendChild(button('key mod', 'sym', app.ui.sym ? t('kbd.letters') : t('kbd.symbols')));
    var space = key(' ', 'type');
    space.className += ' space';
    space.textContent = t('kbd.space');
    last.appendChild(space);
    last.appendChild(key('@', 'type'));
    last.appendChild(key('.', 'type'));
    last.appendChild(button('key mod', 'type-back', t('act.backspace')));
    kb.appendChild(last);
  }

  function renderLocked(s) {
    var at = s.locked_until ? serverTime(s.locked_until) : 0;
    $('locked-text').textContent = at ? t('locked.until', { time: time(at), n: Math.ceil(secsLeft(at) / 60) }) : '';
  }

  function renderSummary() {
    var sm = app.summary;
    $('summary-text').textContent = t('summary.pages', { n: sm.color + sm.mono }) + ' ' +
      t('summary.split', { color: sm.color, mono: sm.mono });
  }

  // --- the job list --------------------------------------------------------

  function policy(s) { return (s.user && s.user.policy) || {}; }

  function selectable(j) { return j.state === 'held' || j.state === 'failed'; }

  function optsOf(j) {
    var o = app.ui.opts[j.id];
    return o || { copies: j.copies || 1, mono: false, duplex: j.duplex };
  }

  function pagesOf(j) { return (j.pages || 0) * optsOf(j).copies; }

  function forcedDuplex(j, pol) { return pol.duplex_above > 0 && j.pages > pol.duplex_above; }

  // plan says, for the selection in list order, the pages it costs and which
  // jobs do not fit the quota (the agent releases the ones that fit).
  function plan(s) {
    var pol = policy(s), q = typeof pol.quota_pages === 'number' ? pol.quota_pages : null;
    var out = { pages: 0, count: 0, quota: q, nofit: {}, unknown: {}, held: 0 };
    var used = 0;
    (s.jobs || []).forEach(function (j) {
      if (q !== null && selectable(j) && !j.pages) { out.unknown[j.id] = true; }
      if (q !== null && selectable(j) && pagesOf(j) > q) { out.nofit[j.id] = true; }
      if (!app.ui.sel[j.id] || !selectable(j)) { return; }
      out.count++;
      out.pages += pagesOf(j);
      if (q === null) { return; }
      // What the agent will keep held: a count not known, or beyond what is left.
      if (!j.pages || used + pagesOf(j) > q) {
        if (j.pages) { out.nofit[j.id] = true; }
        out.held++;
      } else {
        used += pagesOf(j);
      }
    });
    out.used = used;
    return out;
  }

  function renderJobs(s) {
    var jobs = s.jobs || [], pl = plan(s), pol = policy(s);
    for (var id in app.ui.sel) {
      if (app.ui.sel.hasOwnProperty(id) && !jobs.some(function (j) { return j.id === id && selectable(j); })) {
        delete app.ui.sel[id];
      }
    }
    // Under a quota the cost is what will print; what stays held is said
    // in place of the quota line, so neither is cut at 800 px.
    $('cost').textContent = pl.count ? (pl.quota === null ? t('cost.pages', { n: pl.pages })
      : t('cost.quota', { pages: t('cost.pages', { n: pl.used }), n: Math.max(0, pl.quota - pl.used) }))
      : t('cost.none');
    $('quota').textContent = pl.quota === null ? '' : (pl.held ? t('cost.held', { n: pl.held }) : t('quota.left', { n: pl.quota }) +
      (s.offline_session ? ' ' + t('quota.cached') : ''));
    $('quota').className = pl.held ? 'quota warn' : 'quota';
    var any = jobs.some(selectable);
    show($('jobs-empty'), !jobs.length);
    $('a-release').disabled = !pl.count;
    $('a-keep').disabled = !pl.count;
    $('a-delete').disabled = !pl.count;
    $('a-all').disabled = !any;
    $('sel-all').disabled = !any;
    var sig = JSON.stringify([jobs, app.ui.sel, app.ui.opts, app.lang, pol, Math.floor(Date.now() / 60000)]);
    if (sig === app.listSig) { return; }
    app.listSig = sig;
    syncJobs($('jobs'), jobs, pl, pol);
  }

  // syncJobs draws the list by job id (app.items: id -> {li, sig}): a job
  // keeps its <li> while it is listed and is drawn again only when what it
  // shows changed; items are added, removed or moved only when the ids do.
  // Kept nodes keep the list's scroll, so scrollTop is neither read nor set:
  // either forced a layout of all 50 items, 20 to 80 ms on every change of
  // one job's state (docs/benchmarks.md, Panel).
  function syncJobs(list, jobs, pl, pol) {
    var old = app.items, items = {}, common = JSON.stringify([pol, app.lang]), id;
    jobs.forEach(function (j) {
      if (items.hasOwnProperty(j.id)) { return; }
      var it = old.hasOwnProperty(j.id) ? old[j.id] : null, sig = JSON.stringify([j, !!app.ui.sel[j.id], app.ui.opts[j.id] || null,
        !!pl.nofit[j.id], !!pl.unknown[j.id], ago(j.submitted_at)]) + common;
      delete old[j.id];
      if (it && it.sig === sig) { items[j.id] = it; return; }
      var li = jobItem(j, pl, pol);
      if (it && it.li.parentNode === list) { list.replaceChild(li, it.li); }
      items[j.id] = { li: li, sig: sig };
    });
    for (id in old) {
      if (old.hasOwnProperty(id) && old[id].li.parentNode === list) { list.removeChild(old[id].li); }
    }
    app.items = items;
    // Put each in order; whatever is left after the last is not a job's.
    var at = list.firstChild, seen = {}, next;
    jobs.forEach(function (j) {
      if (seen.hasOwnProperty(j.id)) { return; }
      seen[j.id] = true;
      var li = items[j.id].li;
      if (li === at) { at = at.nextSibling; } else { list.insertBefore(li, at); }
    });
    while (at) { next = at.nextSibling; list.removeChild(at); at = next; }
  }

  // staleJobs makes the next render draw every item again (the words of a
  // catalogue that has just come).
  function staleJobs() {
    app.listSig = '';
    for (var id in app.items) { if (app.items.hasOwnProperty(id)) { app.items[id].sig = ''; } }
  }

  function jobItem(j, pl, pol) {
    var o = optsOf(j), sel = !!app.ui.sel[j.id];
    var li = el('li', 'job' + (sel ? ' sel' : '') + (pl.nofit[j.id] ? ' nofit' : ''));
    if (selectable(j)) { li.setAttribute('data-act', 'toggle'); li.setAttribute('data-id', j.id); }
    var check = el('span', 'check' + (selectable(j) ? '' : ' off'), sel ? '\u2713' : '');
    check.setAttribute('role', 'checkbox');
    check.setAttribute('aria-checked', sel ? 'true' : 'false');
    check.setAttribute('aria-label', t('jobs.select'));
    li.appendChild(check);
    li.appendChild(icon(ICONS[j.source] || ICONS.local, t(SOURCES[j.source] || N('source.local'))));
    // A delegated job is named Sender**Name by the agent and shown so
    // (the spec's form): the sender stays in sight when a long name is cut.
    var body = el('div', 'body');
    body.appendChild(el('div', 'jname', j.name || ''));
    var meta = [j.pages ? t('job.pages', { n: j.pages }) : t('job.pages_unknown'), t('job.copies', { n: o.copies }),
      t(j.color && !o.mono && !pol.force_mono ? N('job.color') : N('job.mono')),
      t(o.duplex || forcedDuplex(j, pol) ? N('job.duplex') : N('job.simplex')), ago(j.submitted_at)];
    body.appendChild(el('div', 'meta', meta.join(' \u00b7 ')));
    var notes = [];
    if (pol.force_mono && j.color) { notes.push(t('job.forced_mono')); }
    if (forcedDuplex(j, pol) && !j.duplex) { notes.push(t('job.forced_duplex')); }
    if (j.held_at) { notes.push(t('job.held_at', { printer: j.held_at })); }
    if (pl.unknown[j.id]) { notes.push(t('job.unknown_pages')); } else if (pl.nofit[j.id]) { notes.push(t('job.nofit')); }
    if (notes.length) { body.appendChild(el('div', 'note-line', notes.join(' \u00b7 '))); }
    // The reason has its own line under the meta line and wraps (two
    // lines at most), never cut: a failed job says why in full.
    var why = reasonWords(j);
    if (why) { body.appendChild(el('div', 'reason', why)); }
    if (j.state === 'printed' && j.printed) { body.appendChild(el('div', 'done', t('job.printed_n', { n: j.printed }))); }
    li.appendChild(body);
    var st = el('div', 'state');
    st.appendChild(el('span', 'chip st-' + j.state, t(JOB_STATES[j.state] || N('job.held'))));
    li.appendChild(st);
    if (j.state === 'uncertain') { li.appendChild(button('', 'confirm', t('act.confirm_reprint'), j.id)); }
    if (selectable(j)) { li.appendChild(button('ghost', 'options', t('act.options'), j.id)); }
    return li;
  }

  // --- dialogs -----------------------------------------------------------

  // renderDialog runs every second (the countdowns): it draws into a spare
  // element and patch keeps the nodes that did not change, so that a tap on
  // a button is not lost to its replacement between press and release.
  function renderDialog(s) {
    var d = el('div'), active = s.state === 'active';
    var kind = '';
    if (resetting('confirm') || resetting('force')) { kind = 'reset'; } else if (active && s.auto_release_at) { kind = 'auto'; } else if (active && app.expAt && app.expAt - Date.now() <= 10000) {
      kind = 'idle';
    } else if (active && app.ui.confirmDelete) { kind = 'delete'; } else if (active && app.ui.optFor) { kind = 'opts'; }
    show($('overlay'), !!kind);
    $('overlay').className = 'overlay' + (kind === 'idle' ? ' tap' : '');
    if (kind === 'auto') {
      d.appendChild(el('h2', '', t('auto.title', { n: secsLeft(serverTime(s.auto_release_at)) })));
      d.appendChild(button('huge danger', 'auto-cancel', t('act.cancel')));
    } else if (kind === 'idle') {
      d.appendChild(el('h2', '', t('idle.countdown', { n: secsLeft(app.expAt) })));
      d.appendChild(el('p', '', t('idle.tap')));
    } else if (kind === 'delete') {
      d.appendChild(el('h2', '', t('delete.confirm', { n: plan(s).count })));
      d.appendChild(button('danger', 'delete-yes', t('act.delete')));
      d.appendChild(button('', 'delete-no', t('act.cancel')));
    } else if (kind === 'opts') {
      options(s, d);
    } else if (kind === 'reset') {
      resetDialog(d);
    }
    patch($('dialog'), d);
  }

  // patch makes box hold next's children, keeping each one already drawn
  // the same.
  function patch(box, next) {
    var i = 0;
    while (next.firstChild) {
      var n = next.removeChild(next.firstChild), cur = box.childNodes[i++];
      if (!cur) { box.appendChild(n); } else if (!cur.isEqualNode(n)) { box.replaceChild(n, cur); }
    }
    while (box.childNodes.length > i) { box.removeChild(box.lastChild); }
  }

  function options(s, d) {
    var j = null, pol = policy(s);
    (s.jobs || []).forEach(function (x) { if (x.id === app.ui.optFor) { j = x; } });
    if (!j) { app.ui.optFor = ''; show($('overlay'), false); return; }
    var o = optsOf(j);
    d.appendChild(el('h2', 'jname', j.name));
    var row = el('div', 'opt');
    row.appendChild(el('span', 'lbl', t('opt.copies')));
    row.appendChild(button('key', 'copies-minus', '\u2212'));
    row.appendChild(el('span', 'copies', num(o.copies)));
    row.appendChild(button('key', 'copies-plus', '+'));
    d.appendChild(row);
    var monoWhy = !j.color ? t('opt.already_mono') : (pol.force_mono ? t('job.forced_mono') : '');
    d.appendChild(toggle('opt-mono', t('opt.mono'), o.mono || !j.color || !!pol.force_mono, monoWhy));
    var dupWhy = forcedDuplex(j, pol) ? t('opt.forced_duplex', { n: pol.duplex_above }) : '';
    d.appendChild(toggle('opt-duplex', t('opt.duplex'), o.duplex || !!dupWhy, dupWhy));
    d.appendChild(button('primary', 'opt-done', t('act.done')));
  }

  function toggle(act, label, on, why) {
    var row = el('div', 'opt');
    var b = button('toggle' + (on ? ' on' : ''), act, label + t('fmt.colon') + t(on ? N('opt.on') : N('opt.off')));
    b.setAttribute('aria-pressed', on ? 'true' : 'false');
    b.disabled = !!why;
    row.appendChild(b);
    if (why) { row.appendChild(el('span', 'why', why)); }
    return row;
  }

  // --- the technician menu ------------------------------------------------

  // The menu lives beside the session: a PIN gives a token (10 minutes) that
  // every technician request carries; closing the menu ends it at once.
  function techLogin(pin) {
    request('POST', '/api/v1/technician/login', { pin: pin }, function (status, data) {
      if (status !== 200 || !data || !data.token) { failed(status, data); return; }
      app.ui.mode = '';
      app.tech = { token: data.token, view: null, results: [], at: 0, sig: '' };
      techLoad();
    });
  }

  function techLoad() {
    var tech = app.tech;
    tech.at = Date.now();
    request('GET', '/api/v1/technician', null, function (status, data) {
      if (app.tech !== tech) { return; }
      if (status === 401) { app.tech = null; failed(status, data); return; }
      if (status === 200 && data) { tech.view = data; } else { failed(status, data); }
      if (app.state) { render(app.state); }
    }, tech.token);
  }

  function techPost(what, ok) {
    var tech = app.tech;
    request('POST', '/api/v1/technician/' + what, {}, function (status, data) {
      if (status < 200 || status >= 300) { failed(status, data); return; }
      if (ok && app.tech === tech) { ok(data); }
      if (app.state) { render(app.state); }
    }, tech.token);
  }

  // --- the factory reset: the PIN again, a confirmation that lists what is
  // wiped, and, when accounting records are unsent, a second one that
  // loses them (the agent logs it).

  function resetting(step) { return !!(app.tech && app.tech.reset && app.tech.reset.step === step); }

  function resetPIN(pin) {
    var tech = app.tech;
    request('GET', '/api/v1/technician/reset', null, function (status, data) {
      if (app.tech !== tech || !tech.reset) { return; }
      if (status !== 200 || !data) { tech.reset = null; failed(status, data); return; }
      tech.reset = { step: 'confirm', pin: pin, unsent: data.unsent_records || 0 };
      if (app.state) { render(app.state); }
    }, tech.token);
  }

  function resetDialog(d) {
    var r = app.tech.reset;
    if (r.step === 'force') {
      d.appendChild(el('h2', '', t('reset.force_title', { n: r.unsent })));
      d.appendChild(el('p', '', t('reset.force_text')));
      d.appendChild(button('danger', 'reset-yes', t('reset.force')));
    } else {
      d.appendChild(el('h2', '', t('reset.title')));
      d.appendChild(el('p', '', t('reset.wipes')));
      if (r.unsent > 0) {
        d.appendChild(el('p', 'badl', t('reset.unsent', { n: r.unsent })));
        d.appendChild(button('danger', 'reset-force', t('reset.anyway')));
      } else {
        d.appendChild(button('danger', 'reset-yes', t('reset.do')));
      }
    }
    d.appendChild(button('', 'reset-no', t('act.cancel')));
  }

  function resetNow() {
    var tech = app.tech, r = tech.reset, body = { pin: r.pin, confirm: true, force: r.step === 'force' };
    r.pin = '';
    request('POST', '/api/v1/technician/reset', body, function (status, data) {
      if (app.tech !== tech) { return; }
      tech.reset = null;
      if (status === 202) {
        app.tech = null;
        app.ui = freshUI();
        say(t('reset.started'));
        return;
      }
      if (status === 409 && data && data.unsent_records) {
        say(t('reset.unsent', { n: data.unsent_records }));
        return;
      }
      failed(status, data);
    }, tech.token);
  }

  function diagnosticsDone(data) {
    say(((data && data.files) || []).map(function (f) {
      return t('tech.diag_done', { stick: f.stick, name: f.name, kb: num(Math.max(1, Math.ceil(f.bytes / 1024))) });
    }).join(' '));
  }

  function techClose() {
    if (!app.tech) { return; }
    request('POST', '/api/v1/technician/logout', {}, null, app.tech.token);
    app.tech = null;
    app.ui = freshUI();
  }

  function section(box, title) {
    var d = el('div', 'card');
    d.appendChild(el('h2', '', title));
    box.appendChild(d);
    return d;
  }

  function line(box, text, cls) { box.appendChild(el('div', 'line' + (cls ? ' ' + cls : ''), text)); }

  function level(box, name, pct, text) {
    var row = el('div', 'level-row');
    row.appendChild(el('span', 'lname', name));
    var out = el('span', 'meter'), fill = el('span', 'fill');
    fill.style.width = (typeof pct === 'number' ? Math.max(0, Math.min(100, pct)) : 0) + '%';
    out.appendChild(fill);
    row.appendChild(out);
    row.appendChild(el('span', 'lval', typeof pct === 'number' ? t('fmt.pct', { n: pct }) : (text || '?')));
    box.appendChild(row);
  }

  function when(iso) { return iso ? date(serverTime(iso)) + ' ' + time(serverTime(iso)) : t('tech.never'); }

  function renderTech() {
    var v = app.tech.view, sig = JSON.stringify([v, app.tech.results, app.lang]);
    if (sig === app.tech.sig) { return; }
    app.tech.sig = sig;
    var box = $('tech-body');
    clear(box);
    if (!v) { return; }
    techPrinter(section(box, t('tech.printer')), v.printer);
    var c = section(box, t('tech.links'));
    line(c, t('tech.cloud') + t('fmt.colon') + t(v.cloud && v.cloud.online ? N('tech.online') : N('tech.offline')) +
      (v.cloud && v.cloud.hub_url ? ' (' + v.cloud.hub_url + ')' : ''), v.cloud && v.cloud.online ? 'good' : 'badl');
    line(c, t('tech.last_connected', { time: when(v.cloud && v.cloud.last_connected) }));
    var sy = v.sync || {};
    line(c, t('tech.pending', { n: sy.pending || 0 }) + (sy.oldest_pending ? ' · ' + t('tech.oldest', { time: when(sy.oldest_pending) }) : ''));
    line(c, t('tech.last_sync', { time: when(sy.last_success) }));
    (v.readers || []).forEach(function (r) {
      var ok = r.state === 'attached';
      line(c, r.name + t('fmt.colon') + t(ok ? N('tech.attached') : N('tech.unplugged')), ok ? 'good' : 'badl');
    });
    line(c, t('tech.version', { version: v.version || '', id: v.agent_id || '' }));
    if (app.tech.results.length) {
      var r = section(box, t('tech.results'));
      app.tech.results.forEach(function (x) {
        line(r, x.name + t('fmt.colon') + t(x.ok ? N('tech.ok') : N('tech.failed')) + (x.message ? ' — ' + x.message : ''), x.ok ? 'good' : 'badl');
      });
    }
    var lg = section(box, t('tech.log'));
    lg.className += ' wide';
    lg.appendChild(el('pre', 'log', (v.log || []).slice(-LOG_LINES).join('\n')));
  }

  function techPrinter(box, p) {
    if (!p) { line(box, t('tech.no_snmp')); return; }
    line(box, [p.vendor, p.model, p.serial].join(' '));
    line(box, PRINTER_STATES.hasOwnProperty(p.status) ? t(PRINTER_STATES[p.status]) : p.status || '', p.can_print ? 'good' : 'badl');
    (p.reasons || []).forEach(function (r) {
      line(box, PRINTER_REASONS.hasOwnProperty(r.code) ? t(PRINTER_REASONS[r.code]) : r.message, r.blocking ? 'badl' : '');
    });
    (p.supplies || []).forEach(function (x) { level(box, x.description || x.type, x.percent, x.level_text); });
    (p.trays || []).forEach(function (x) {
      level(box, (x.name || x.description) + (x.size ? ' (' + x.size + ')' : ''), x.percent, x.level_text || x.status);
    });
    (p.alerts || []).forEach(function (a) { line(box, a.description || a.code_name, a.severity === 'critical' ? 'badl' : ''); });
    var counters = p.counters || {};
    for (var k in counters) {
      if (counters.hasOwnProperty(k)) { line(box, k + t('fmt.colon') + num(counters[k])); }
    }
  }

  // --- actions -------------------------------------------------------------

  function selectedJobs(keep, confirmID) {
    var out = [];
    (app.state.jobs || []).forEach(function (j) {
      if (confirmID ? j.id !== confirmID : !(app.ui.sel[j.id] && selectable(j))) { return; }
      var o = optsOf(j), r = { id: j.id, copies: o.copies, duplex: o.duplex };
      if (o.mono) { r.color = 'mono'; }
      if (keep) { r.keep = true; }
      if (confirmID) { r.confirm = true; }
      out.push(r);
    });
    return out;
  }

  function released(data) {
    app.ui.sel = {};
    var held = [];
    ((data && data.jobs) || []).forEach(function (r) {
      var why = r.state !== 'queued' ? reasonWords(r) : '';
      if (why) { held.push(why); }
    });
    if (held.length) { say(held.join(' ')); } else if (app.state) { render(app.state); }
  }

  function job(id) {
    var found = null;
    ((app.state && app.state.jobs) || []).forEach(function (j) { if (j.id === id) { found = j; } });
    return found;
  }

  function setOpt(id, f) {
    var j = job(id);
    if (!j) { return; }
    var o = optsOf(j);
    f(o);
    app.ui.opts[id] = o;
  }

  function submitForm() {
    var reg = app.state.state === 'register-offered';
    var body = { username: app.ui.user, password: app.ui.pass };
    app.ui.pass = '';
    post(reg ? '/api/v1/register-card' : '/api/v1/login', body, function () {
      app.ui = freshUI();
      if (reg) { say(t('reg.done')); }
    });
  }

  var ACTIONS = {
    'mode-pin': function () { app.ui.mode = 'pin'; app.ui.pin = ''; },
    'mode-password': function () { app.ui.mode = 'password'; app.ui.field = 'user'; },
    cancel: function () {
      if (resetting('pin')) { app.tech.reset = null; app.ui.pin = ''; return; }
      if (app.state.state === 'idle') { app.ui = freshUI(); } else { post('/api/v1/logout', {}); }
    },
    logout: function () { post('/api/v1/logout', {}); },
    digit: function (b) { if (app.ui.pin.length < PIN_MAX) { app.ui.pin += b.getAttribute('data-k'); } },
    'pin-back': function () { app.ui.pin = app.ui.pin.slice(0, -1); },
    'pin-ok': function () {
      var pin = app.ui.pin;
      app.ui.pin = '';
      if (pin && resetting('pin')) { resetPIN(pin); return; }
      if (pin && app.ui.mode === 'tech-pin') { techLogin(pin); return; }
      if (pin) { post('/api/v1/pin', { pin: pin }, function () { app.ui.mode = ''; }); }
    },
    'focus-user': function () { app.ui.field = 'user'; },
    'focus-pass': function () { app.ui.field = 'pass'; },
    type: function (b) { app.ui[app.ui.field] += b.getAttribute('data-k'); app.ui.shift = false; },
    'type-back': function () { app.ui[app.ui.field] = app.ui[app.ui.field].slice(0, -1); },
    shift: function () { app.ui.shift = !app.ui.shift; },
    sym: function () { app.ui.sym = !app.ui.sym; },
    'form-submit': function () {
      if (app.ui.field === 'user' && !app.ui.pass) { app.ui.field = 'pass'; return; }
      submitForm();
    },
    dismiss: function (b) {
      post('/api/v1/notifications/' + encodeURIComponent(b.getAttribute('data-id')) + '/dismiss', {});
    },
    toggle: function (b) { var id = b.getAttribute('data-id'); if (app.ui.sel[id]) { delete app.ui.sel[id]; } else { app.ui.sel[id] = true; } },
    'select-all': function () {
      var all = true, jobs = (app.state.jobs || []).filter(selectable);
      jobs.forEach(function (j) { all = all && !!app.ui.sel[j.id]; });
      app.ui.sel = {};
      if (!all) { jobs.forEach(function (j) { app.ui.sel[j.id] = true; }); }
    },
    release: function () { post('/api/v1/release', { jobs: selectedJobs(false) }, released); },
    'release-keep': function () { post('/api/v1/release', { jobs: selectedJobs(true) }, released); },
    'release-all': function () { post('/api/v1/release', { all: true }, released); },
    confirm: function (b) { post('/api/v1/release', { jobs: selectedJobs(false, b.getAttribute('data-id')) }, released); },
    refresh: function () { post('/api/v1/refresh', {}); },
    'delete': function () { app.ui.confirmDelete = true; },
    'delete-no': function () { app.ui.confirmDelete = false; },
    'delete-yes': function () {
      app.ui.confirmDelete = false;
      selectedJobs(false).forEach(function (r) {
        request('DELETE', '/api/v1/jobs/' + encodeURIComponent(r.id), null, function (status, data) {
          if (status !== 204) { failed(status, data); }
        });
        delete app.ui.sel[r.id];
      });
    },
    options: function (b) { app.ui.optFor = b.getAttribute('data-id'); },
    'copies-minus': function () { setOpt(app.ui.optFor, function (o) { o.copies = Math.max(1, o.copies - 1); }); },
    'copies-plus': function () { setOpt(app.ui.optFor, function (o) { o.copies = Math.min(999, o.copies + 1); }); },
    'opt-mono': function () { setOpt(app.ui.optFor, function (o) { o.mono = !o.mono; }); },
    'opt-duplex': function () { setOpt(app.ui.optFor, function (o) { o.duplex = !o.duplex; }); },
    'opt-done': function () { app.ui.optFor = ''; },
    'auto-cancel': function () { post('/api/v1/auto-release/cancel', {}); },
    'summary-close': function () { app.summary = null; },
    theme: function () { app.hc = !highContrast(app.state); },
    'mode-tech': function () { app.ui.mode = 'tech-pin'; app.ui.pin = ''; },
    'tech-poll': function () { techPost('poll', function () { say(t('tech.polled')); }); },
    'tech-test': function () {
      techPost('test', function (data) { app.tech.results = (data && data.results) || []; app.tech.sig = ''; });
    },
    'tech-accept': function () {
      techPost('accept-printer', function (data) { say(t('tech.accepted', { serial: (data && data.serial) || '' })); });
    },
    'tech-diag': function () { techPost('diagnostics', diagnosticsDone); },
    'tech-reset': function () { app.tech.reset = { step: 'pin' }; app.ui.pin = ''; },
    'reset-force': function () { app.tech.reset.step = 'force'; },
    'reset-yes': function () { resetNow(); },
    'reset-no': function () { app.tech.reset = null; },
    'tech-close': function () { techClose(); }
  };

  // One listener for every tap: buttons name their action in data-act (no
  // inline handlers, which the page's Content-Security-Policy forbids).
  function onTap(ev) {
    var s = app.state;
    if (s && s.state === 'active' && activity()) { render(s); }
    app.lastTap = Date.now();
    var n = ev.target;
    while (n && n !== document && !(n.getAttribute && n.getAttribute('data-act'))) { n = n.parentNode; }
    if (!n || n === document || n.disabled) { return; }
    var f = ACTIONS[n.getAttribute('data-act')];
    if (!f || !s) { return; }
    f(n);
    render(app.state);
  }

  // activity tells the agent someone is still there (it resets the
  // auto-logout); at most every few seconds, but always in the countdown,
  // which it closes at once (it says so: the caller draws again).
  function activity() {
    var now = Date.now(), counting = app.expAt && app.expAt - now <= 10000;
    if (!counting && now - app.lastActivity < ACTIVITY_MS) { return false; }
    app.lastActivity = now;
    if (counting) { app.expAt = 0; }
    request('POST', '/api/v1/activity', {}, null);
    return counting;
  }

  // ready: the words of the page's language are here (or failed to come:
  // then English, the fallback, is on its way).
  function ready() { return !!app.cat[app.lang]; }

  function tick() {
    if (!app.state || !ready()) { return; }
    if (app.tech && Date.now() - app.tech.at >= TECH_MS) { techLoad(); }
    if (app.hc !== null && app.state.state === 'idle' && Date.now() - app.lastTap >= THEME_IDLE_MS) {
      app.hc = null;
      render(app.state);
    }
    renderBanners(app.state);
    renderScreen(app.state);
    renderDialog(app.state);
  }

  document.addEventListener('click', onTap, false);
  setInterval(tick, 1000);
  // The first state brings the language to load: a French device never
  // fetches English (the page's weight, panel/assets_test.go).
  connect();
}());
