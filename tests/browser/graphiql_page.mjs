// GraphiQL at /graphql in the system's headless Chromium with every request off loopback
// refused: it renders from the server's own assets, and its default document is run as a
// person would: SignUp, the token into the Headers pane, NewConversation, its id into the
// Variables pane, then the Chat subscription, whose events stream into the response pane.
// Usage: node graphiql_page.mjs BASE_URL SCREENSHOT_DIR
// Prints one JSON line with what it saw; exits non-zero (with the reason) on any failure.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [baseUrl, screenshots] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const profile = mkdtempSync(join(tmpdir(), "reactor-chromium-"));
const TIMEOUT = 30_000;
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  viewport: { width: 1280, height: 800 },
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const seen = {
  requested: [], blocked: [], sockets: [], deltaFrames: 0, panes: [], consoleErrors: [],
};
// CodeMirror keeps its editor on the wrapping element; the panes are found by their parents.
const EDITORS = {
  query: ".graphiql-query-editor .CodeMirror",
  variables: ".graphiql-editor-tool .CodeMirror",
  headers: ".graphiql-editor-tool .CodeMirror",
  response: ".graphiql-response .CodeMirror",
};

try {
  // Nothing but loopback: a CDN, or any other host, is refused as it would be offline.
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.protocol === "data:" || LOOPBACK.has(url.hostname)) {
      seen.requested.push(url.pathname);
      return route.continue();
    }
    seen.blocked.push(url.href);
    return route.abort("internetdisconnected");
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(TIMEOUT);
  page.on("console", (m) => m.type() === "error" && seen.consoleErrors.push(m.text()));
  page.on("pageerror", (e) => seen.consoleErrors.push(String(e)));
  page.on("websocket", (ws) => {
    seen.sockets.push(ws.url());
    ws.on("framereceived", (f) => {
      const frame = JSON.parse(f.payload);
      if (frame.type === "next" && frame.payload.data?.chat?.__typename === "TextDelta") {
        seen.deltaFrames += 1;
      }
    });
  });

  const value = (name) => page.evaluate(({ selector, name }) => {
    const editors = [...document.querySelectorAll(selector)].map((el) => el.CodeMirror);
    if (name === "headers") return editors.find((e) => e.getValue().includes("Authorization"))?.getValue();
    return editors[0]?.getValue();
  }, { selector: EDITORS[name], name });

  const setValue = (name, text) => page.evaluate(({ selector, name, text }) => {
    const editors = [...document.querySelectorAll(selector)].map((el) => el.CodeMirror);
    const editor = name === "variables"
      ? editors.find((e) => !e.getValue().includes("Authorization"))
      : name === "headers"
        ? editors.find((e) => e.getValue().includes("Authorization"))
        : editors[0];
    editor.setValue(text);
  }, { selector: EDITORS[name], name, text });

  // Runs one operation of the document as a person does: cursor in it, Ctrl-Enter.
  const run = async (operation, until) => {
    await page.evaluate(({ selector, operation }) => {
      const editor = document.querySelector(selector).CodeMirror;
      const line = editor.getValue().split("\n").findIndex((l) => l.includes(` ${operation}`) && /^(query|mutation|subscription) /.test(l));
      editor.focus();
      editor.setCursor({ line: line + 1, ch: 2 });
    }, { selector: EDITORS.query, operation });
    await page.keyboard.press("Control+Enter");
    await page.waitForFunction(({ selector, until }) => {
      const text = document.querySelector(selector)?.CodeMirror?.getValue() ?? "";
      return text.includes(until);
    }, { selector: EDITORS.response, until });
    return JSON.parse(await value("response"));
  };

  await page.goto(`${baseUrl}/graphql`);
  await page.locator(EDITORS.query).waitFor();
  await page.locator(".graphiql-execute-button").waitFor();
  seen.defaultHeaders = await value("headers");
  seen.defaultQuery = await value("query");

  const email = `graphiql-${Date.now()}-${Math.random().toString(16).slice(2)}@example.com`;
  await setValue("query", seen.defaultQuery.replace("ada@example.com", email));
  const signedUp = await run("SignUp", "accessToken");
  const token = signedUp.data.signUp.accessToken;
  await setValue("headers", JSON.stringify({ Authorization: `Bearer ${token}` }));

  const created = await run("NewConversation", "createConversation");
  const conversationId = created.data.createConversation.id;
  await page.getByRole("button", { name: "Variables" }).click();
  const message = "hello from GraphiQL, streamed a word at a time";
  await setValue("variables", JSON.stringify({ conversationId, message }, null, 2));

  // The response pane shows each event as it arrives: a TextDelta while the turn streams.
  const chatting = run("Chat", "ChatCompleted");
  await page.waitForFunction((selector) => {
    const text = document.querySelector(selector)?.CodeMirror?.getValue() ?? "";
    return text.includes('"TextDelta"');
  }, EDITORS.response);
  seen.panes.push(JSON.parse(await value("response")));
  await page.screenshot({ path: join(screenshots, "graphiql_streaming.png") });
  seen.panes.push(await chatting);
  seen.message = message;
  await page.screenshot({ path: join(screenshots, "graphiql.png") });
  process.stdout.write(`${JSON.stringify(seen)}\n`);
} catch (error) {
  process.stderr.write(`${error.stack ?? error}\n${JSON.stringify(seen)}\n`);
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
