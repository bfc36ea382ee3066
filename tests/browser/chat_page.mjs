// A first-time user on the chat page, in the system's headless Chromium: sign up, start a
// conversation, watch a reply stream in, trigger a tool call, sign out and back in.
// Usage: node chat_page.mjs BASE_URL SCREENSHOT_PATH
// Prints one JSON line with what it saw; exits non-zero (with the reason) on any failure.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [baseUrl, screenshot] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const profile = mkdtempSync(join(tmpdir(), "reactor-chromium-"));
const TIMEOUT = 30_000;

const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  viewport: { width: 1100, height: 720 },
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const seen = { deltas: [], consoleErrors: [] };
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(TIMEOUT);
  page.on("console", (m) => m.type() === "error" && seen.consoleErrors.push(m.text()));
  page.on("pageerror", (e) => seen.consoleErrors.push(String(e)));
  // Count the frames the server streams, to prove the text arrives in pieces.
  page.on("websocket", (ws) => ws.on("framereceived", (f) => {
    const frame = JSON.parse(f.payload);
    if (frame.type === "next" && frame.payload.data?.chat?.__typename === "TextDelta") {
      seen.deltas.push(frame.payload.data.chat.text);
    }
  }));

  await page.goto(baseUrl);
  const email = `browser-${Date.now()}-${Math.random().toString(16).slice(2)}@example.com`;
  await page.getByTestId("email").fill(email);
  await page.getByTestId("password").fill("correct horse battery staple");
  await page.getByTestId("sign-up").click();
  await page.getByTestId("who").filter({ hasText: email }).waitFor();
  await page.getByTestId("auth").waitFor({ state: "hidden" });

  await page.getByTestId("new-conversation").click();
  await page.getByTestId("conversation").first().waitFor();

  const text = "hello from the browser, one word at a time";
  await page.getByTestId("message").fill(text);
  await page.getByTestId("send").click();
  const reply = page.getByTestId("message-assistant").last();
  await reply.filter({ hasText: `Echo: ${text}` }).waitFor();
  await page.waitForFunction(() => !document.getElementById("send").disabled);
  seen.reply = await reply.textContent();

  await page.getByTestId("message").fill("search products for lamp");
  await page.getByTestId("send").click();
  await page.getByTestId("tool-call").last().waitFor();
  await page.getByTestId("tool-result").last().waitFor();
  await page.waitForFunction(() => !document.getElementById("send").disabled);
  seen.toolCall = await page.getByTestId("tool-call").last().textContent();
  seen.afterTool = await page.getByTestId("message-assistant").last().textContent();
  await page.screenshot({ path: screenshot, fullPage: true });

  // Signed out and in again, the conversation and its messages are still there.
  await page.getByTestId("sign-out").click();
  await page.getByTestId("messages").waitFor({ state: "hidden" });
  await page.getByTestId("email").fill(email);
  await page.getByTestId("password").fill("correct horse battery staple");
  await page.getByTestId("sign-in").click();
  await page.getByTestId("conversation").first().click();
  await page.getByTestId("message-assistant").filter({ hasText: `Echo: ${text}` }).waitFor();
  seen.reloadedMessages = await page.getByTestId("messages").locator("li").count();
  seen.chatError = await page.getByTestId("chat-error").textContent();
  process.stdout.write(`${JSON.stringify(seen)}\n`);
} catch (error) {
  process.stderr.write(`${error.stack ?? error}\n${JSON.stringify(seen)}\n`);
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
