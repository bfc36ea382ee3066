// The chat page walked in the system's headless Chromium, at 1280x800 and at 390x844, one
// browser, a fresh user per size: sign up; send (Enter, Shift+Enter, an empty send); a
// generated title; Markdown with a script and an <img onerror> kept inert; a tool step; a
// reload mid-reply; a dropped socket; a second tab watching a turn live; stop and regenerate;
// edit and switch versions; fork; rename, search, archive, delete; a provider failure in
// place; an expired access token refreshed (over HTTP and on the socket); the hourly limit;
// the composer inside the viewport; on the phone the drawer; sign out and in again.
// Usage: node chat_page.mjs BASE_URL ARTIFACT_DIR
// Prints one JSON line with what it saw; exits non-zero (with the reason) on any failure.

import { join } from "node:path";
import { chromium } from "playwright-core";

const [baseUrl, artifacts] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const TIMEOUT = 30_000;
// Words in a reply the walk reloads, drops or watches from a second tab while it streams: at a
// word every 60 ms, long enough for the page to rejoin it before it ends on a busy machine.
const LONG = 80;
const SIZES = [
  { name: "wide", viewport: { width: 1280, height: 800 }, isMobile: false, hasTouch: false },
  { name: "phone", viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true },
];

function check(condition, message) {
  if (!condition) throw new Error(`${message}`);
}

function words(prefix, count) {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`).join(" ");
}

async function walk(browser, size) {
  const context = await browser.newContext({
    viewport: size.viewport, isMobile: size.isMobile, hasTouch: size.hasTouch, deviceScaleFactor: 1,
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"]).catch(() => {});
  const seen = { consoleErrors: [], streamedDeltas: 0 };
  let step = 0;
  const watch = (page) => {
    page.setDefaultTimeout(TIMEOUT);
    page.on("console", (m) => {
      // Expected: the inert <img src=x> asks for /x, which is not there (404); and Chromium
      // reports the page's CSP refusing the onerror handler while DOMPurify parses the reply in
      // its inert document (cure53/DOMPurify#107). The DOM checks below see it removed.
      const expected = m.text().includes("404") || m.text().startsWith("Executing inline event handler violates");
      if (m.type() === "error" && !expected) seen.consoleErrors.push(m.text());
    });
    page.on("pageerror", (e) => seen.consoleErrors.push(String(e)));
    page.on("websocket", (ws) => ws.on("framereceived", (f) => {
      const frame = JSON.parse(f.payload);
      if (frame.type === "next" && frame.payload.data?.chat?.__typename === "TextDelta") seen.streamedDeltas += 1;
    }));
  };
  const page = await context.newPage();
  watch(page);
  // The page's sockets pass through here, so the walk can drop one as a network would.
  const sockets = [];
  // Set by the walk: the next chat message reaches the server, then its socket is lost
  // before any answer, so the page cannot know whether it was taken.
  let loseNextSend = false;
  await page.routeWebSocket(/\/graphql$/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((message) => {
      server.send(message);
      if (loseNextSend && typeof message === "string" && message.includes('"subscribe"') && message.includes("chat(")) {
        loseNextSend = false;
        ws.close({ code: 1012, reason: "lost by the walk" });
      }
    });
    sockets.push(ws);
  });
  const shot = async (name, target = page) => {
    step += 1;
    await target.screenshot({ path: join(artifacts, `${size.name}-${String(step).padStart(2, "0")}-${name}.png`) });
  };
  const phone = size.name === "phone";
  const tid = (id, on = page) => on.getByTestId(id);
  const lastReply = (on = page) => tid("message-assistant", on).last();
  const idle = (on = page) => on.waitForFunction(() => !document.getElementById("send").disabled && document.getElementById("stop").hidden);
  const send = async (text, on = page) => {
    await tid("message", on).fill(text);
    await tid("message", on).press("Enter");
  };
  const openList = async () => {
    if (phone && !(await page.locator("#app.drawer-open").count())) {
      await tid("open-drawer").click();
      await page.locator("#app.drawer-open #sidebar").waitFor();
    }
  };
  const conversationId = () => page.evaluate(() => location.hash.match(/#\/c\/([0-9a-f-]{36})/)?.[1] ?? null);
  const menu = async (command) => {
    await tid("conversation-menu").click();
    await tid(command).click();
  };

  // ---- sign up ----
  await page.goto(baseUrl);
  const email = `page-${size.name}-${Date.now()}-${Math.random().toString(16).slice(2)}@example.com`;
  await tid("email").fill(email);
  await tid("password").fill("correct horse battery staple");
  await shot("sign-up");
  await tid("sign-up").click();
  await tid("auth").waitFor({ state: "hidden" });
  await tid("who").filter({ hasText: email }).waitFor({ state: "attached" });
  await shot("signed-in");

  // ---- the drawer (phone) ----
  if (phone) {
    const drawerState = async () => ((await page.locator("#app.drawer-open").count()) ? "open" : "closed");
    seen.drawer = [await drawerState()];
    check(!(await tid("sidebar").isVisible()), "the list shows on a phone before the drawer is opened");
    await tid("open-drawer").click();
    await tid("new-conversation").waitFor({ state: "visible" });
    seen.drawer.push(await drawerState());
    // It slides in: measured once it has arrived.
    await page.waitForFunction(() => document.getElementById("sidebar").getBoundingClientRect().x >= 0);
    const box = await tid("sidebar").boundingBox();
    check(box.x >= 0 && box.x + box.width <= size.viewport.width, "the opened drawer is not inside the viewport");
    await shot("drawer-open");
    await tid("scrim").click({ position: { x: size.viewport.width - 20, y: 400 } });
    await tid("sidebar").waitFor({ state: "hidden" });
    seen.drawer.push(await drawerState());
    await shot("drawer-closed");
  } else {
    check(await tid("sidebar").isVisible(), "the list is hidden on a wide screen");
  }

  // ---- an empty send gives a visible hint ----
  await tid("send").click();
  await tid("composer-hint").filter({ hasText: "Type a message first" }).waitFor();
  check(await tid("composer-hint").isVisible(), "the empty-send hint is not visible");
  await shot("empty-send-hint");

  // ---- send: Shift+Enter makes a new line, Enter sends; the reply streams in ----
  const token = Math.random().toString(36).slice(2, 8);
  const marker = `zebra${token}`;
  await tid("message").fill(`hello there ${marker}`);
  await tid("message").press("Shift+Enter");
  await tid("message").pressSequentially("second line");
  check((await tid("message").inputValue()).includes("\n"), "Shift+Enter did not make a new line");
  check((await tid("message-user").count()) === 0, "Shift+Enter sent the message");
  await tid("message").press("Enter");
  await lastReply().filter({ hasText: `Echo: hello there ${marker}` }).filter({ hasText: "second line" }).waitFor();
  await idle();
  const firstId = await conversationId();
  check(firstId, "the conversation is not in the URL");
  check((await tid("user-text").first().textContent()).includes("\nsecond line"), "the new line was lost");
  await page.waitForFunction(() => !["New conversation", "New chat"].includes(document.getElementById("title").textContent));
  seen.titleGenerated = await tid("title").textContent();
  await tid("conversation").filter({ hasText: seen.titleGenerated.slice(0, 20) }).first().waitFor({ state: "attached" });
  await shot("first-reply-and-title");

  // ---- Markdown, and HTML in a reply made inert ----
  const markdown = [
    "intro", "", "# A heading", "", "Some **bold** and `inline code`.", "", "```js", "const answer = 42;", "```", "",
    "<script>window.__pwned = 'script'</script>", "", '<img src="x" onerror="window.__pwned = \'img\'">', "",
    '<a href="javascript:window.__pwned=1">link</a>',
  ].join("\n");
  await send(markdown);
  await lastReply().locator("pre code").filter({ hasText: "const answer = 42;" }).waitFor();
  await idle();
  const body = lastReply().getByTestId("reply-body");
  check(await body.locator("h1").filter({ hasText: "A heading" }).count(), "the heading was not rendered");
  check(await body.locator("strong").filter({ hasText: "bold" }).count(), "bold was not rendered");
  check((await body.locator("script").count()) === 0, "a <script> reached the DOM");
  check((await body.locator("[onerror]").count()) === 0, "an onerror attribute reached the DOM");
  check(!(await body.evaluate((b) => [...b.querySelectorAll("a")].some((a) => (a.getAttribute("href") ?? "").startsWith("javascript:")))), "a javascript: link survived");
  await page.waitForFunction(() => [...document.querySelectorAll(".body img")].every((img) => img.complete));
  seen.scriptRan = await page.evaluate(() => window.__pwned ?? null);
  check(seen.scriptRan === null, `a script in a reply ran: ${seen.scriptRan}`);
  await shot("markdown-inert");

  // ---- a tool call as a readable, collapsible step ----
  await send("search products for lamp");
  await lastReply().getByTestId("tool-step").waitFor();
  await lastReply().filter({ hasText: "Tool result:" }).waitFor();
  await idle();
  const stepBox = lastReply().getByTestId("tool-step");
  check((await stepBox.locator("summary").textContent()).includes("search_products"), "the tool step does not name the tool");
  check(!(await stepBox.getByTestId("tool-arguments").isVisible()), "the tool step is not collapsed");
  await stepBox.locator("summary").click();
  check((await stepBox.getByTestId("tool-arguments").textContent()).includes('"query": "lamp"'), "the tool's arguments are not shown");
  await stepBox.getByTestId("tool-result").waitFor();
  await shot("tool-step");

  // ---- reload mid-reply: the reply in progress is rejoined and finishes ----
  const long = words(`r${token}w`, LONG);
  await send(long);
  await lastReply().filter({ hasText: `r${token}w3` }).waitFor();
  check((await lastReply().getAttribute("data-status")) === "STREAMING", "the reply was over before the reload");
  await page.reload();
  await page.locator('[data-testid="message-assistant"].streaming').waitFor();
  seen.resumedAfterReload = true;
  await shot("reloaded-mid-reply");
  await lastReply().filter({ hasText: `r${token}w${LONG - 1}` }).waitFor();
  await idle();
  check((await lastReply().getAttribute("data-status")) === "COMPLETE", "the rejoined reply did not complete");
  await shot("rejoined-reply-finished");

  // ---- a dropped connection: the reply in progress is rejoined on a new socket ----
  await send(words(`d${token}w`, LONG));
  await lastReply().filter({ hasText: `d${token}w3` }).waitFor();
  const opened = sockets.length;
  await sockets.at(-1).close({ code: 1012, reason: "dropped by the walk" });
  await lastReply().filter({ hasText: `d${token}w${LONG - 1}` }).waitFor();
  await idle();
  check(sockets.length > opened, "no new socket was opened after the drop");
  check((await lastReply().getAttribute("data-status")) === "COMPLETE", "the reply rejoined after the drop did not complete");
  seen.rejoinedAfterDrop = true;
  await shot("rejoined-after-drop");

  // ---- a message whose socket was lost before any answer: its turn goes on, stored once ----
  loseNextSend = true;
  await send(words(`s${token}w`, 6));
  await lastReply().filter({ hasText: `s${token}w5` }).waitFor();
  await idle();
  seen.lostSendStored = await tid("message-user").filter({ hasText: `s${token}w0` }).count();
  check((await lastReply().getAttribute("data-status")) === "COMPLETE", "the reply to a lost send did not complete");
  await shot("lost-send-stored-once");

  // ---- a second tab on the same conversation sees a turn live ----
  const other = await context.newPage();
  watch(other);
  await other.goto(page.url());
  await tid("message-assistant", other).filter({ hasText: `r${token}w${LONG - 1}` }).waitFor();
  const liveText = words(`l${token}w`, LONG);
  await send(liveText);
  await tid("message-user", other).filter({ hasText: `l${token}w0` }).waitFor();
  await other.locator('[data-testid="message-assistant"].streaming').filter({ hasText: `l${token}w` }).waitFor();
  seen.secondTabSawStreaming = true;
  await shot("second-tab-streaming", other);
  await tid("message-assistant", other).filter({ hasText: `l${token}w${LONG - 1}` }).waitFor();
  await idle(other);
  await shot("second-tab-finished", other);
  await other.close();
  await idle();

  // ---- stop a reply; the incomplete reply is marked, with Regenerate ----
  await send(words(`s${token}w`, 45));
  await tid("stop").waitFor();
  await lastReply().filter({ hasText: `s${token}w2` }).waitFor();
  await tid("stop").click();
  await lastReply().getByTestId("incomplete").waitFor();
  seen.stoppedNotice = await lastReply().getByTestId("incomplete").textContent();
  check(!(await lastReply().textContent()).includes(`s${token}w44`), "the stopped reply went on to the end");
  await shot("stopped");
  await lastReply().getByTestId("incomplete-regenerate").click();
  await lastReply().filter({ hasText: `s${token}w44` }).waitFor();
  await idle();
  check((await lastReply().getByTestId("version").textContent()) === "2 / 2", "the regenerated reply is not the second version");
  await shot("regenerated-after-stop");

  // ---- edit a question, switch between its versions ----
  const lastQuestion = tid("message-user").last();
  await lastQuestion.hover();
  await lastQuestion.getByTestId("edit").click();
  await lastQuestion.getByTestId("edit-text").fill(`edited ${token}`);
  await shot("editing");
  await lastQuestion.getByTestId("edit-send").click();
  await lastReply().filter({ hasText: `Echo: edited ${token}` }).waitFor();
  await idle();
  const questionVersion = () => tid("message-user").last().getByTestId("version").textContent();
  seen.versionsAfterEdit = [await questionVersion()];
  await shot("edited");
  await tid("message-user").last().getByTestId("version-prev").click();
  await lastReply().filter({ hasText: `s${token}w44` }).waitFor();
  seen.versionsAfterEdit.push(await questionVersion());
  await shot("previous-version");
  await tid("message-user").last().getByTestId("version-next").click();
  await lastReply().filter({ hasText: `Echo: edited ${token}` }).waitFor();
  seen.versionsAfterEdit.push(await questionVersion());

  // ---- regenerate a complete reply, move between its versions ----
  await lastReply().getByTestId("regenerate").click();
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="message-assistant"]')].at(-1)?.querySelector('[data-testid="version"]')?.textContent === "2 / 2");
  await idle();
  await lastReply().getByTestId("version-prev").click();
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="message-assistant"]')].at(-1)?.querySelector('[data-testid="version"]')?.textContent === "1 / 2");
  await shot("reply-versions");

  // ---- fork from a message ----
  await lastReply().getByTestId("fork").click();
  await page.waitForFunction((id) => location.hash.startsWith("#/c/") && !location.hash.includes(id), firstId);
  const forkId = await conversationId();
  await lastReply().filter({ hasText: `Echo: edited ${token}` }).waitFor();
  await shot("forked");

  // ---- rename ----
  const renamed = `Renamed ${token}`;
  await menu("rename");
  await tid("dialog-input").fill(renamed);
  await shot("rename-dialog");
  await tid("dialog-ok").click();
  await tid("title").filter({ hasText: renamed }).waitFor();
  await tid("conversation").filter({ hasText: renamed }).waitFor({ state: "attached" });

  // ---- search: highlighted snippets; a hit opens its conversation at the message ----
  await openList();
  await tid("search").fill(`s${token}w10`);
  const hit = tid("search-hit").filter({ has: page.locator("mark") }).first();
  await hit.waitFor();
  check((await hit.locator("mark").first().textContent()).toLowerCase().includes(`s${token}w10`), "the match is not highlighted");
  await shot("search-results");
  await hit.click();
  await page.waitForFunction((id) => location.hash.startsWith(`#/c/${id}/m/`), firstId);
  // The hit was on a branch not shown (the question was edited since): it is shown now.
  await tid("messages").locator(".target").filter({ hasText: `s${token}w10` }).waitFor();
  seen.searchOpened = true;
  await shot("search-hit-opened");
  await openList();
  await tid("search").fill("");
  await tid("conversations").waitFor();
  if (phone) await tid("close-drawer").click();

  // ---- archive ----
  await menu("archive");
  await page.locator("#archived-badge").waitFor();
  await openList();
  await page.waitForFunction((id) => !document.querySelector(`#conversations [data-id="${id}"]`), firstId);
  await tid("tab-archived").click();
  await page.locator(`#conversations [data-id="${firstId}"]`).waitFor();
  await shot("archived");
  await tid("tab-active").click();
  await page.locator(`#conversations [data-id="${forkId}"]`).click();
  await page.waitForFunction((id) => location.hash === `#/c/${id}`, forkId);

  // ---- delete ----
  await menu("delete");
  await shot("delete-dialog");
  await tid("dialog-ok").click();
  await page.waitForFunction(() => location.hash === "#/");
  await openList();
  await page.waitForFunction((id) => !document.querySelector(`#conversations [data-id="${id}"]`), forkId);
  await shot("deleted");
  if (phone) await tid("close-drawer").click();

  // ---- a provider failure shown in place ----
  await tid("model").selectOption("broken");
  await send(`this will fail ${token}`);
  await tid("turn-error").waitFor();
  seen.providerError = await tid("turn-error").textContent();
  await shot("provider-error");
  await tid("model").selectOption("fast");

  // ---- an expired access token is refreshed with the refresh token ----
  const before = await page.evaluate(() => JSON.parse(localStorage.getItem("reactor.session")));
  // The token is spoilt with no page of ours running (on /healthz, same origin), so no request
  // of the page is cut off mid-refresh by the test itself; then the page loads afresh.
  await page.goto(`${baseUrl}healthz`);
  await page.evaluate(() => {
    const s = JSON.parse(localStorage.getItem("reactor.session"));
    localStorage.setItem("reactor.session", JSON.stringify({ ...s, accessToken: "expired.not.valid", expiresAt: Date.now() + 3_600_000 }));
  });
  await page.goto(`${baseUrl}#/c/${firstId}`);
  await lastReply().waitFor();
  const after = await page.evaluate(() => JSON.parse(localStorage.getItem("reactor.session")));
  seen.refreshedToken = after.accessToken !== "expired.not.valid" && after.refreshToken !== before.refreshToken;
  check(seen.refreshedToken, "the page did not refresh its session");
  await send(`after refresh ${token}`);
  await lastReply().filter({ hasText: `Echo: after refresh ${token}` }).waitFor();
  await idle();

  // The socket's turn: it drops, and the token it reconnects with is refused (4403); the page
  // refreshes the session and connects again. First the page settles, so that no request of
  // its own (a reload after the last turn's events) refreshes the token over HTTP instead.
  await page.reload();
  await lastReply().filter({ hasText: `Echo: after refresh ${token}` }).waitFor();
  await page.waitForLoadState("networkidle");
  await page.evaluate(() => {
    const s = JSON.parse(localStorage.getItem("reactor.session"));
    localStorage.setItem("reactor.session", JSON.stringify({ ...s, accessToken: "expired.not.valid" }));
  });
  const refusedFrom = sockets.length;
  await sockets.at(-1).close({ code: 1012, reason: "dropped by the walk" });
  await page.waitForFunction(() => JSON.parse(localStorage.getItem("reactor.session")).accessToken !== "expired.not.valid");
  await tid("connection").waitFor({ state: "hidden" });
  check(sockets.length >= refusedFrom + 2, "the refused socket was not followed by another");
  await send(`after 4403 ${token}`);
  await lastReply().filter({ hasText: `Echo: after 4403 ${token}` }).waitFor();
  await idle();
  seen.socketRefreshed = true;

  // ---- past the hourly limit: the refusal says when to try again, the text stays ----
  for (let i = 0; i < 25 && !(await tid("turn-error").count()); i += 1) {
    await send(`filler ${i} ${token}`);
    await page.waitForFunction(() => document.querySelector('[data-testid="turn-error"]')
      || (!document.getElementById("send").disabled && document.getElementById("stop").hidden));
  }
  seen.rateLimited = await tid("turn-error").textContent();
  check(/You can send again in \d+ (s|min)/.test(seen.rateLimited), `the refusal gives no retry time: ${seen.rateLimited}`);
  check((await tid("message").inputValue()).startsWith("filler "), "the refused text was not put back in the box");
  await shot("rate-limited");

  // ---- the thread scrolls; the header and the composer stay in the viewport ----
  const layout = await page.evaluate(() => {
    const rect = (id) => document.getElementById(id).getBoundingClientRect();
    const scroller = document.getElementById("scroller");
    return {
      pageScroll: document.scrollingElement.scrollTop,
      threadScrolls: scroller.scrollHeight > scroller.clientHeight,
      topbar: rect("topbar").toJSON(), message: rect("message").toJSON(), send: rect("send").toJSON(),
    };
  });
  const inside = (r) => r.x >= 0 && r.y >= 0 && r.x + r.width <= size.viewport.width && r.y + r.height <= size.viewport.height && r.width > 0;
  seen.composerInView = layout.pageScroll === 0 && layout.topbar.y === 0 && inside(layout.message) && inside(layout.send);
  check(layout.threadScrolls, "the thread does not scroll on its own");
  check(seen.composerInView, `the header or composer left the viewport: ${JSON.stringify(layout)}`);
  await tid("scroller").evaluate((s) => (s.scrollTop = 0));
  check((await tid("message").boundingBox()).y + 10 < size.viewport.height, "the composer scrolled away with the thread");
  check(await tid("send").isVisible(), "Send is not visible");
  await shot("scrolled-up-composer-stays");

  // ---- the narrowest phone: nothing wider than the screen; and the dark scheme ----
  if (phone) {
    await page.setViewportSize({ width: 360, height: 740 });
    await page.emulateMedia({ colorScheme: "dark" });
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    check(width <= 360, `the page is ${width} px wide on a 360 px screen`);
    check(await tid("send").isVisible(), "Send is not visible at 360 px");
    await shot("360px-dark");
  }

  // ---- sign out, and in again: the conversations are still there ----
  await openList();
  await tid("sign-out").click();
  await tid("auth").waitFor();
  check((await page.evaluate(() => localStorage.getItem("reactor.session"))) === null, "the tokens outlived signing out");
  await tid("email").fill(email);
  await tid("password").fill("correct horse battery staple");
  await tid("sign-in").click();
  await tid("auth").waitFor({ state: "hidden" });
  await openList();
  await tid("conversation").first().waitFor();
  seen.signedBackIn = true;
  await shot("signed-in-again");

  await context.close();
  return seen;
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const seen = {};
try {
  for (const size of SIZES) seen[size.name] = await walk(browser, size);
  process.stdout.write(`${JSON.stringify(seen)}\n`);
} catch (error) {
  // What each page showed when the walk failed.
  let n = 0;
  for (const context of browser.contexts()) {
    for (const page of context.pages()) await page.screenshot({ path: join(artifacts, `FAILED-${++n}.png`) }).catch(() => {});
  }
  process.stderr.write(`${error.stack ?? error}\n${JSON.stringify(seen)}\n`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
