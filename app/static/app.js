// The chat page: the list of conversations, the thread, the composer, and everything live
// (chat turns, rejoining a reply, a conversation's events) over graphql.js's one socket.
// Replies go in through markdown.js; every other text from the server via textContent.

import { AUTH_FIELDS, SESSION_KEY, forget, gql, hooks, keep, post, session, socket } from "/graphql.js";
import { markdownFragment, snippetFragment } from "/markdown.js";

const MODEL_KEY = "reactor.model";
const PAGE = 100;
const $ = (id) => document.getElementById(id);

const state = {
  conversationId: null,
  conversation: null, // { id, title, archived, currentMessageId }
  messages: [], // the branch shown, oldest first
  earlier: null, // cursor for the messages before `messages`, when there are more
  pending: null, // the turn being followed: see startTurn() and follow()
  turnError: null, // { error }: why the last turn ended, shown in place (see render)
  editing: null, // id of the user message being edited
  listArchived: false,
  listCursor: null,
  conversations: new Map(),
  focusMessageId: null,
  highlight: null, // { id, until }: the message a search hit opened at, marked for a moment
};

// ---- small helpers -----------------------------------------------------------------------

function renderMarkdown(element, text) {
  const fragment = markdownFragment(text);
  for (const pre of fragment.querySelectorAll("pre")) {
    const copy = button("Copy", () => copyText(pre.querySelector("code")?.textContent ?? pre.textContent, copy));
    copy.className = "copy-code";
    pre.append(copy);
  }
  element.replaceChildren(fragment);
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "testid") node.dataset.testid = value;
    else if (key === "class") node.className = value;
    else node[key] = value;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function button(label, onclick, props = {}) {
  return el("button", { type: "button", textContent: label, onclick, ...props });
}

async function copyText(text, origin) {
  try {
    await navigator.clipboard.writeText(text);
    flashLabel(origin, "Copied");
  } catch {
    flashLabel(origin, "Copy failed");
  }
}

function flashLabel(node, text) {
  const before = node.textContent;
  node.textContent = text;
  setTimeout(() => (node.textContent = before), 1200);
}

function describe(error) {
  switch (error?.code) {
    case "RATE_LIMITED": {
      if (!error.retryAfter) return error.message;
      const at = new Date(Date.now() + error.retryAfter * 1000);
      const wait = error.retryAfter < 90 ? `${Math.ceil(error.retryAfter)} s` : `${Math.ceil(error.retryAfter / 60)} min`;
      // The server's own "try again later" is made exact.
      const reason = error.message.replace(/[;,.]?\s*try again later\.?$/i, ".");
      return `${reason} You can send again in ${wait} (at ${at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}).`;
    }
    case "UPSTREAM_ERROR":
      return `The model's provider failed: ${error.message}`;
    default:
      return error?.message ?? String(error);
  }
}

function showError(error) {
  $("chat-error").textContent = describe(error);
}

function clearError() {
  $("chat-error").textContent = "";
}

// ---- sign in -----------------------------------------------------------------------------

async function authenticate(action) {
  $("auth-error").textContent = "";
  const email = $("email").value.trim();
  const password = $("password").value;
  if (!email || !password) {
    $("auth-error").textContent = "Enter an email and a password.";
    return;
  }
  try {
    const data = await post(
      `mutation($e: String!, $p: String!) { ${action}(email: $e, password: $p) { ${AUTH_FIELDS} } }`,
      { e: email, p: password },
    );
    keep(data[action]);
    $("password").value = "";
    hooks.sessionEnded = signedOut;
start();
  } catch (error) {
    $("auth-error").textContent = error.message;
  }
}

function signedOut(reason) {
  forget();
  socket.close();
  state.conversationId = null;
  state.pending = null;
  $("app").hidden = true;
  $("auth").hidden = false;
  $("auth-error").textContent = reason ?? "";
}

async function signOut() {
  try {
    await gql(`mutation { signOut }`);
  } catch {
    // Signing out here is what matters; the server's refresh tokens expire regardless.
  }
  signedOut();
  history.replaceState(null, "", "#/");
}

function start() {
  const current = session();
  if (!current) {
    $("auth").hidden = false;
    $("app").hidden = true;
    return;
  }
  $("auth").hidden = true;
  $("app").hidden = false;
  $("who").textContent = current.email;
  loadModels().catch(showError);
  loadConversations().catch(showError);
  route();
}

// ---- the list of conversations -----------------------------------------------------------

const CONVERSATION_FIELDS = "id title archived updatedAt currentMessageId";

async function loadConversations(more = false) {
  const data = await gql(
    `query($a: Boolean!, $after: String) {
      conversations(first: 50, archived: $a, after: $after) {
        edges { node { ${CONVERSATION_FIELDS} } } pageInfo { hasNextPage endCursor }
      }
    }`,
    { a: state.listArchived, after: more ? state.listCursor : null },
  );
  const { edges, pageInfo } = data.conversations;
  if (!more) state.conversations.clear();
  for (const { node } of edges) state.conversations.set(node.id, node);
  state.listCursor = pageInfo.hasNextPage ? pageInfo.endCursor : null;
  renderList();
}

function renderList() {
  const list = $("conversations");
  list.replaceChildren();
  for (const node of state.conversations.values()) {
    if (node.archived !== state.listArchived) continue;
    const item = el("li", { testid: "conversation", textContent: node.title, title: node.title });
    item.dataset.id = node.id;
    item.classList.toggle("active", node.id === state.conversationId);
    item.onclick = () => go(node.id);
    list.append(item);
  }
  $("more-conversations").hidden = !state.listCursor;
  const searching = Boolean($("search").value.trim());
  $("list-empty").hidden = searching || list.children.length > 0;
  $("list-empty").textContent = state.listArchived ? "No archived conversations." : "No conversations yet.";
}

function remember(conversation) {
  const known = state.conversations.get(conversation.id);
  if (known && known.updatedAt === conversation.updatedAt) {
    state.conversations.set(conversation.id, { ...known, ...conversation });
  } else if (known || conversation.archived === state.listArchived) {
    // Updated: to the top, as the server orders them.
    state.conversations.delete(conversation.id);
    state.conversations = new Map([[conversation.id, { ...known, ...conversation }], ...state.conversations]);
  }
  renderList();
}

function showArchived(archived) {
  state.listArchived = archived;
  $("tab-active").setAttribute("aria-selected", String(!archived));
  $("tab-archived").setAttribute("aria-selected", String(archived));
  loadConversations().catch(showError);
}

// ---- search ------------------------------------------------------------------------------

let searchTimer = null;
let searchSeq = 0;

function searchSoon() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => search().catch(showError), 250);
}

async function search() {
  const query = $("search").value.trim();
  const results = $("search-results");
  const searching = Boolean(query);
  results.hidden = !searching;
  $("conversations").hidden = searching;
  $("more-conversations").hidden = searching || !state.listCursor;
  if (!searching) {
    renderList();
    return;
  }
  const seq = ++searchSeq;
  const data = await gql(
    `query($q: String!) {
      search(query: $q, first: 20) { edges { node { snippet message { id role } conversation { id title } } } }
    }`,
    { q: query },
  );
  if (seq !== searchSeq) return;
  results.replaceChildren();
  for (const { node } of data.search.edges) {
    const snippet = el("div", { class: "snippet" }, snippetFragment(node.snippet));
    const item = el("li", { testid: "search-hit" }, el("div", { class: "hit-title", textContent: node.conversation.title }), snippet);
    item.onclick = () => go(node.conversation.id, node.message.id);
    results.append(item);
  }
  $("list-empty").hidden = results.children.length > 0;
  $("list-empty").textContent = "Nothing matches.";
}

// ---- routing: #/c/<conversation>[/m/<message>] -------------------------------------------

function go(conversationId, messageId = null) {
  closeDrawer();
  const hash = conversationId ? `#/c/${conversationId}${messageId ? `/m/${messageId}` : ""}` : "#/";
  if (location.hash === hash) route();
  else location.hash = hash;
}

function route() {
  if (!session()) return;
  const match = location.hash.match(/^#\/c\/([0-9a-f-]{36})(?:\/m\/([0-9a-f-]{36}))?/i);
  if (!match) {
    openConversation(null);
    return;
  }
  const [, id, messageId] = match;
  state.focusMessageId = messageId ?? null;
  if (id === state.conversationId && !messageId) return;
  openConversation(id).catch(showError);
}

// ---- one conversation --------------------------------------------------------------------

const MESSAGE_FIELDS = "id role content status parentId siblingIds finishReason model toolCalls { id name arguments }";
let live = null; // the conversationEvents subscription
let openSeq = 0;

async function openConversation(id) {
  const seq = ++openSeq;
  live?.stop();
  live = null;
  state.pending?.sub?.stop();
  state.pending = null;
  state.turnError = null;
  state.editing = null;
  state.conversationId = id;
  state.conversation = null;
  state.messages = [];
  state.earlier = null;
  clearError();
  renderList();
  renderHeader();
  render();
  if (!id) {
    $("message").focus();
    return;
  }
  await loadMessages();
  if (seq !== openSeq) return;
  if (!state.conversation) {
    showError({ message: "That conversation does not exist, or it is not yours." });
    return;
  }
  listen();
  await revealFocus();
  if (matchMedia("(hover: hover)").matches) $("message").focus();
}

// Loads can overlap (an event's reload, a turn's end): only the newest request's answer is
// drawn, so an older one arriving late cannot put back a branch that has since moved on.
let loadSeq = 0;

async function loadMessages(before = null) {
  const id = state.conversationId;
  const seq = before ? loadSeq : ++loadSeq;
  const data = await gql(
    `query($id: UUID!, $last: Int!, $before: String) {
      conversation(id: $id) {
        ${CONVERSATION_FIELDS}
        messages(last: $last, before: $before) {
          edges { node { ${MESSAGE_FIELDS} } } pageInfo { hasPreviousPage startCursor }
        }
      }
    }`,
    { id, last: PAGE, before },
  );
  if (id !== state.conversationId || seq !== loadSeq) return;
  const conversation = data.conversation;
  if (!conversation) {
    state.conversation = null;
    return;
  }
  const { messages, ...rest } = conversation;
  state.conversation = rest;
  const page = messages.edges.map((e) => e.node);
  state.messages = before ? [...page, ...state.messages] : page;
  state.earlier = messages.pageInfo.hasPreviousPage ? messages.pageInfo.startCursor : null;
  remember(rest);
  renderHeader();
  render({ keepScroll: Boolean(before) });
  followStreaming();
}

// A reply still being written (after a reload, on another device, after a dropped connection)
// is rejoined with resumeChat, so it goes on growing here.
function followStreaming() {
  if (state.pending) return;
  const streaming = state.messages.findLast((m) => m.role === "ASSISTANT" && m.status === "STREAMING");
  if (!streaming) return;
  state.pending = { own: false, replyId: streaming.id, text: streaming.content, steps: [] };
  follow(`subscription($r: UUID!) { resumeChat(replyId: $r) { ${TURN_EVENTS} } }`, { r: streaming.id }, "resumeChat");
  render();
}

let reloadTimer = null;
function reloadSoon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => loadMessages().catch(showError), 120);
}

function listen() {
  const id = state.conversationId;
  live = socket.subscribe(
    `subscription($c: UUID!) {
      conversationEvents(conversationId: $c) {
        __typename
        ... on MessageAdded { message { id status } }
        ... on MessageUpdated { message { id status } }
        ... on ConversationUpdated { conversation { ${CONVERSATION_FIELDS} } }
        ... on ConversationDeleted { id }
      }
    }`,
    { c: id },
    {
      next: ({ conversationEvents: event }) => onConversationEvent(event),
      error: (error) => showError(error),
      drop: () => reconnectSoon(),
    },
  );
}

function onConversationEvent(event) {
  const pending = state.pending;
  switch (event.__typename) {
    case "MessageAdded":
    case "MessageUpdated":
      // A turn being followed reloads the branch when it ends; until then its rows would
      // show twice (saved and streamed).
      if (!pending) reloadSoon();
      break;
    case "ConversationUpdated": {
      const conversation = event.conversation;
      const moved = conversation.currentMessageId !== state.conversation?.currentMessageId;
      state.conversation = { ...state.conversation, ...conversation };
      remember(conversation);
      renderHeader();
      if (moved && !pending) reloadSoon();
      break;
    }
    case "ConversationDeleted":
      state.conversations.delete(event.id);
      renderList();
      if (event.id === state.conversationId) {
        history.pushState(null, "", "#/");
        openConversation(null);
        showError({ message: "That conversation was deleted." });
      }
      break;
  }
}

// The socket dropped: once a new one opens, rejoin the conversation and any reply in progress.
let reconnectTimer = null;
let reconnectDelay = 500;
function reconnectSoon() {
  if (reconnectTimer || !session()) return;
  $("connection").hidden = false;
  reconnectTimer = setTimeout(async () => {
    reconnectTimer = null;
    try {
      await socket.open();
      reconnectDelay = 500;
      $("connection").hidden = true;
      if (!state.conversationId) return;
      live?.stop();
      listen();
      // A reply still streaming is rejoined by loadMessages (followStreaming). A message the
      // dropped socket may never have delivered is sent again under its id: the server stores
      // it once, and rejoins its turn if the first attempt got through after all.
      const pending = state.pending;
      state.pending = null;
      await loadMessages();
      const unsent = pending && !pending.replyId && pending.resend;
      if (unsent && !state.messages.some((m) => m.id === pending.resend.variables.id)) {
        state.pending = { ...pending, sub: null, text: "", steps: [] };
        render({ toBottom: true });
        follow(unsent.query, unsent.variables, "chat");
      }
    } catch {
      reconnectDelay = Math.min(reconnectDelay * 2, 15_000);
      reconnectSoon();
    }
  }, reconnectDelay);
}

async function revealFocus() {
  const target = state.focusMessageId;
  if (!target) return;
  state.focusMessageId = null;
  if (!state.messages.some((m) => m.id === target)) {
    // A search hit on another branch: show the branch that holds it.
    await gql(`mutation($c: UUID!, $m: UUID!) { switchBranch(conversationId: $c, messageId: $m) { id } }`, { c: state.conversationId, m: target });
    await loadMessages();
  }
  // Kept in the state, so a redraw meanwhile (an event's reload) keeps the highlight.
  state.highlight = { id: target, until: Date.now() + 2500 };
  render();
  $("messages").querySelector(".target")?.scrollIntoView({ block: "center" });
  setTimeout(() => {
    state.highlight = null;
    for (const node of $("messages").querySelectorAll(".target")) node.classList.remove("target");
  }, 2500);
}

function highlighted(ids) {
  const mark = state.highlight;
  return Boolean(mark && Date.now() < mark.until && ids.includes(mark.id));
}

// ---- turns: chat, regenerate, resumeChat -------------------------------------------------

const TURN_EVENTS = `
  __typename
  ... on ChatStarted { replyId model userMessage { id } }
  ... on TextSnapshot { text }
  ... on TextDelta { text }
  ... on ToolCall { id name arguments }
  ... on ToolResult { id name content }
  ... on ChatCompleted { message { id status } }
`;

async function ensureConversation() {
  if (state.conversationId) return;
  const data = await gql(`mutation { createConversation { ${CONVERSATION_FIELDS} } }`);
  const conversation = data.createConversation;
  ++openSeq;
  state.conversationId = conversation.id;
  state.conversation = conversation;
  state.messages = [];
  history.pushState(null, "", `#/c/${conversation.id}`);
  remember(conversation);
  renderHeader();
  listen();
}

// kind "chat": a new message (text) after the current one, or an edit (parentId, cutAt: the
// edited message's place); kind "regenerate": a new reply to the user message `replyId` answers.
// A random (version 4) UUID; crypto.randomUUID exists only on https and loopback pages.
function newId() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

async function startTurn({ kind, text, parentId, replyId, cutAt }) {
  if (state.pending) return;
  clearError();
  state.turnError = null;
  const model = $("model").value || null;
  state.pending = { own: true, userText: text, userMessageId: null, replyId: null, text: "", steps: [] };
  if (cutAt !== undefined) state.messages = state.messages.slice(0, cutAt);
  render({ toBottom: true });
  try {
    await ensureConversation();
  } catch (error) {
    state.pending = null;
    turnFailed(error, text);
    return;
  }
  if (kind === "chat") {
    // The message's id is chosen here, so a send retried after a dropped socket is stored once.
    const resend = {
      query: `subscription($c: UUID!, $m: String!, $model: String, $p: UUID, $id: UUID) {
        chat(conversationId: $c, message: $m, model: $model, parentId: $p, messageId: $id) { ${TURN_EVENTS} }
      }`,
      variables: { c: state.conversationId, m: text, model, p: parentId ?? null, id: newId() },
    };
    state.pending.resend = resend;
    follow(resend.query, resend.variables, "chat");
  } else {
    follow(`subscription($r: UUID!, $model: String) { regenerate(replyId: $r, model: $model) { ${TURN_EVENTS} } }`, { r: replyId, model }, "regenerate");
  }
}

let paintQueued = false;
function paintSoon() {
  if (paintQueued) return;
  paintQueued = true;
  requestAnimationFrame(() => {
    paintQueued = false;
    paintPending();
  });
}

function follow(query, variables, field) {
  const pending = state.pending;
  const conversationId = state.conversationId;
  pending.sub = socket.subscribe(query, variables, {
    next: (data) => {
      if (state.pending !== pending) return;
      const event = data[field];
      switch (event.__typename) {
        case "ChatStarted":
          pending.replyId = event.replyId;
          pending.userMessageId = event.userMessage.id;
          render();
          break;
        case "TextSnapshot":
          pending.text = event.text;
          paintSoon();
          break;
        case "TextDelta":
          pending.text += event.text;
          paintSoon();
          break;
        case "ToolCall":
          pending.steps.push({ id: event.id, name: event.name, arguments: event.arguments, result: null });
          render();
          break;
        case "ToolResult": {
          const step = pending.steps.find((s) => s.id === event.id);
          if (step) step.result = event.content;
          render();
          break;
        }
        case "ChatCompleted":
          finishTurn(pending, conversationId);
          break;
      }
    },
    error: (error) => {
      if (state.pending !== pending) return;
      state.pending = null;
      turnFailed(error, REFUSALS.has(error.code) ? pending.userText : null);
      if (pending.replyId || pending.userMessageId) loadMessages().catch(showError);
    },
    complete: () => {
      if (state.pending === pending) finishTurn(pending, conversationId);
    },
    drop: () => {
      if (state.pending === pending) reconnectSoon();
    },
  });
}

// The saved branch is loaded before the streamed text is let go, so nothing flickers.
async function finishTurn(pending, conversationId) {
  pending.sub?.stop();
  if (state.pending !== pending || pending.finishing) return;
  pending.finishing = true;
  try {
    if (state.conversationId === conversationId) await loadMessages();
  } catch (error) {
    showError(error);
  } finally {
    if (state.pending === pending) {
      state.pending = null;
      render();
    }
  }
}

// Refused before anything was saved: the text goes back in the box to send again.
const REFUSALS = new Set(["RATE_LIMITED", "BAD_USER_INPUT", "NOT_FOUND", "CONFLICT", "FORBIDDEN", "UNAUTHENTICATED", "NETWORK"]);

// An error is shown where the turn stopped: after the reply it cut short, or at the end with
// the unsent text back in the box.
function turnFailed(error, unsentText) {
  state.turnError = { error };
  if (unsentText && !$("message").value) {
    $("message").value = unsentText;
    autosize();
  }
  render({ toBottom: true });
}

async function stopTurn() {
  const pending = state.pending;
  if (!pending?.replyId) return;
  $("stop").disabled = true;
  try {
    await gql(`mutation($r: UUID!) { stopChat(replyId: $r) { id status } }`, { r: pending.replyId });
  } catch (error) {
    showError(error);
  } finally {
    $("stop").disabled = false;
  }
}

async function switchVersion(messageId) {
  if (state.pending) return;
  try {
    await gql(`mutation($c: UUID!, $m: UUID!) { switchBranch(conversationId: $c, messageId: $m) { id currentMessageId } }`, { c: state.conversationId, m: messageId });
    state.turnError = null;
    await loadMessages();
  } catch (error) {
    showError(error);
  }
}

async function fork(messageId) {
  try {
    const data = await gql(`mutation($m: UUID!) { forkConversation(messageId: $m) { ${CONVERSATION_FIELDS} } }`, { m: messageId });
    remember(data.forkConversation);
    go(data.forkConversation.id);
  } catch (error) {
    showError(error);
  }
}

// ---- drawing the thread ------------------------------------------------------------------

// The branch as turns: a user message, then what answered it (tool-calling rounds, their
// results, the reply), shown as one assistant entry.
function turnsOf(messages) {
  const turns = [];
  let turn = null;
  for (const m of messages) {
    if (m.role === "SYSTEM") continue;
    if (m.role === "USER" || !turn) {
      turn = { user: m.role === "USER" ? m : null, parts: m.role === "USER" ? [] : [m], index: turns.length };
      turns.push(turn);
    } else {
      turn.parts.push(m);
    }
  }
  return turns;
}

function stepsOf(parts) {
  const steps = [];
  let queue = [];
  for (const m of parts) {
    if (m.role === "ASSISTANT" && m.toolCalls.length) {
      queue = m.toolCalls.map((c) => ({ id: c.id, name: c.name, arguments: c.arguments, result: null }));
      steps.push(...queue);
    } else if (m.role === "TOOL") {
      const step = queue.shift();
      if (step) step.result = m.content;
    }
  }
  return steps;
}

function nearBottom() {
  const s = $("scroller");
  return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
}

function render({ toBottom = false, keepScroll = false } = {}) {
  const scroller = $("scroller");
  const stick = toBottom || nearBottom();
  const fromBottom = scroller.scrollHeight - scroller.scrollTop;
  const list = $("messages");
  list.replaceChildren();
  const pending = state.pending;
  const messages = state.messages;
  const byId = new Set(messages.map((m) => m.id));
  const turns = turnsOf(messages);
  for (const turn of turns) {
    if (turn.user) list.append(userEntry(turn.user, messages.indexOf(turn.user)));
    if (turn.parts.length) list.append(assistantEntry(turn, turn === turns.at(-1) ? state.turnError : null));
  }
  if (pending && !(pending.replyId && byId.has(pending.replyId))) {
    if (pending.userText && !byId.has(pending.userMessageId)) {
      list.append(userEntry({ id: pending.userMessageId, content: pending.userText, siblingIds: [], pendingEntry: true }, -1));
    }
    list.append(assistantEntry({ parts: [], pendingEntry: true }));
  }
  // An error the last reply's notice has not already shown stands on its own at the end.
  if (state.turnError && !list.querySelector('[data-testid="turn-error"]')) {
    list.append(el("li", { class: "notice error", testid: "turn-error", role: "alert", textContent: describe(state.turnError.error) }));
  }
  $("empty").hidden = list.children.length > 0;
  $("load-earlier").hidden = !state.earlier;
  renderComposer();
  if (keepScroll) scroller.scrollTop = scroller.scrollHeight - fromBottom;
  else if (stick) scroller.scrollTop = scroller.scrollHeight;
}

function versions(message) {
  const ids = message.siblingIds ?? [];
  if (ids.length < 2) return null;
  const at = ids.indexOf(message.id);
  const busy = Boolean(state.pending);
  return el("span", { class: "versions", testid: "versions" },
    button("‹", () => switchVersion(ids[at - 1]), { disabled: busy || at <= 0, ariaLabel: "Previous version", testid: "version-prev" }),
    el("span", { testid: "version", textContent: `${at + 1} / ${ids.length}` }),
    button("›", () => switchVersion(ids[at + 1]), { disabled: busy || at >= ids.length - 1, ariaLabel: "Next version", testid: "version-next" }),
  );
}

function userEntry(message, index) {
  const item = el("li", { class: "msg user", testid: "message-user" });
  if (message.id) item.dataset.id = message.id;
  item.classList.toggle("target", highlighted([message.id]));
  if (state.editing === message.id) {
    const box = el("textarea", { value: message.content, testid: "edit-text", ariaLabel: "Edited message" });
    const save = () => {
      const text = box.value.trim();
      if (!text) return;
      state.editing = null;
      startTurn({ kind: "chat", text, parentId: message.parentId, cutAt: index });
    };
    box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        save();
      } else if (event.key === "Escape") {
        state.editing = null;
        render();
      }
    });
    item.append(el("div", { class: "edit" }, box, el("div", { class: "buttons" },
      button("Cancel", () => { state.editing = null; render(); }, { testid: "edit-cancel" }),
      button("Send", save, { class: "primary", testid: "edit-send" }),
    )));
    queueMicrotask(() => box.focus());
    return item;
  }
  item.append(el("div", { class: "bubble", testid: "user-text", textContent: message.content }));
  if (message.pendingEntry) return item;
  const busy = Boolean(state.pending);
  item.append(el("div", { class: "actions" },
    versions(message),
    // A conversation's first message has no parent to branch from, so it is not editable.
    message.parentId
      ? button("Edit", () => { state.editing = message.id; render(); }, { disabled: busy, testid: "edit" })
      : null,
    button("Copy", (e) => copyText(message.content, e.currentTarget)),
  ));
  return item;
}

function assistantEntry(turn, turnError = null) {
  const pending = state.pending;
  const assistants = turn.parts.filter((m) => m.role === "ASSISTANT");
  const reply = assistants.at(-1) ?? null;
  const anchor = turn.parts[0] ?? null;
  const live = pending && (turn.pendingEntry || (reply && reply.id === pending.replyId));
  const text = live ? pending.text : (reply?.content ?? "");
  const steps = live && pending.steps.length ? pending.steps : stepsOf(turn.parts);
  const status = live ? "STREAMING" : (reply?.status ?? "COMPLETE");
  const item = el("li", { class: `msg assistant${live ? " streaming" : ""}`, testid: "message-assistant" });
  item.dataset.status = status;
  if (reply) item.dataset.id = reply.id;
  item.dataset.ids = turn.parts.map((m) => m.id).join(" ");
  item.classList.toggle("target", highlighted(turn.parts.map((m) => m.id)));
  for (const step of steps) item.append(toolStep(step, live));
  const body = el("div", { class: "body markdown", testid: "reply-body" });
  renderMarkdown(body, text);
  item.append(body);
  if (live) return item;
  const incomplete = status === "INCOMPLETE";
  if (incomplete) item.append(incompleteNotice(reply, turn, turnError));
  const busy = Boolean(pending);
  item.append(el("div", { class: "actions" },
    anchor ? versions(anchor) : null,
    text ? button("Copy", (e) => copyText(text, e.currentTarget)) : null,
    reply && !incomplete ? button("Regenerate", () => startTurn({ kind: "regenerate", replyId: reply.id, cutAt: indexAfter(turn) }), { disabled: busy, testid: "regenerate" }) : null,
    reply ? button("Fork", () => fork(reply.id), { disabled: busy, testid: "fork", title: "A new conversation with everything up to here" }) : null,
  ));
  return item;
}

// Where the messages of a regenerated turn start: right after its user message.
function indexAfter(turn) {
  return turn.user ? state.messages.indexOf(turn.user) + 1 : state.messages.indexOf(turn.parts[0]);
}

function incompleteNotice(reply, turn, turnError) {
  const why = turnError ? describe(turnError.error) : {
    cancelled: "Stopped.",
    interrupted: "Interrupted: the server writing it went away.",
    error: "The model's provider failed before the reply was finished.",
    length: "Cut off at the length limit.",
  }[reply.finishReason] ?? "This reply is incomplete.";
  const notice = el("div", { class: `notice ${turnError ? "error" : "incomplete"}`, testid: turnError ? "turn-error" : "incomplete" },
    el("span", { textContent: why }),
    button("Regenerate", () => startTurn({ kind: "regenerate", replyId: reply.id, cutAt: indexAfter(turn) }), { disabled: Boolean(state.pending), testid: "incomplete-regenerate" }),
  );
  if (turnError) notice.setAttribute("role", "alert");
  return notice;
}

function pretty(json) {
  try {
    return JSON.stringify(JSON.parse(json), null, 2);
  } catch {
    return json;
  }
}

function briefArguments(json) {
  try {
    const value = JSON.parse(json);
    if (value && typeof value === "object") {
      return Object.entries(value).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(", ");
    }
  } catch {
    // shown as sent
  }
  return json;
}

function toolStep(step, live) {
  const done = step.result !== null;
  const summary = el("summary", {},
    el("span", { textContent: done ? "Used" : "Using" }),
    el("b", { textContent: step.name }),
    el("span", { class: "args", textContent: briefArguments(step.arguments) }),
    el("span", { class: "state", textContent: done ? "done" : live ? "running…" : "no result" }),
  );
  const detail = el("div", { class: "detail" },
    el("h4", { textContent: "Arguments" }), el("pre", { testid: "tool-arguments", textContent: pretty(step.arguments) }),
    el("h4", { textContent: "Result" }), el("pre", { testid: "tool-result", textContent: done ? pretty(step.result) : "…" }),
  );
  const details = el("details", { class: "tool", testid: "tool-step" }, summary, detail);
  const open = openSteps.has(step.id);
  details.open = open;
  details.addEventListener("toggle", () => (details.open ? openSteps.add(step.id) : openSteps.delete(step.id)));
  return details;
}
const openSteps = new Set();

// While a reply streams only its text is redrawn, once per frame.
function paintPending() {
  const pending = state.pending;
  if (!pending) return;
  const item = [...$("messages").querySelectorAll(".msg.assistant.streaming")].at(-1);
  if (!item) {
    render();
    return;
  }
  const stick = nearBottom();
  renderMarkdown(item.querySelector(".body"), pending.text);
  if (stick) $("scroller").scrollTop = $("scroller").scrollHeight;
}

function renderHeader() {
  const conversation = state.conversation;
  $("title").textContent = conversation?.title ?? "New chat";
  document.title = conversation ? `${conversation.title} · reactor-chat` : "reactor-chat";
  $("menu-button").disabled = !conversation;
  $("archived-badge").hidden = !conversation?.archived;
  $("menu").querySelector('[data-command="archive"]').textContent = conversation?.archived ? "Unarchive" : "Archive";
}

function renderComposer() {
  const pending = state.pending;
  $("stop").hidden = !pending?.replyId;
  $("send").hidden = Boolean(pending?.replyId);
  $("send").disabled = Boolean(pending);
}

// ---- the composer ------------------------------------------------------------------------

function autosize() {
  const box = $("message");
  box.style.height = "auto";
  box.style.height = `${Math.min(box.scrollHeight, 192)}px`;
}

let hintTimer = null;
function hint(text) {
  $("hint").textContent = text;
  $("composer").classList.remove("nudge");
  void $("composer").offsetWidth;
  $("composer").classList.add("nudge");
  clearTimeout(hintTimer);
  hintTimer = setTimeout(() => {
    $("hint").textContent = "";
    $("composer").classList.remove("nudge");
  }, 3000);
}

function submit(event) {
  event.preventDefault();
  const text = $("message").value.trim();
  if (state.pending) {
    hint("Wait for the reply, or stop it.");
    return;
  }
  if (!text) {
    hint("Type a message first.");
    $("message").focus();
    return;
  }
  $("message").value = "";
  autosize();
  startTurn({ kind: "chat", text, parentId: null });
}

async function loadModels() {
  const data = await gql(`{ models { name isDefault } }`);
  const select = $("model");
  const saved = localStorage.getItem(MODEL_KEY);
  select.replaceChildren();
  for (const model of data.models) {
    const chosen = saved ? model.name === saved : model.isDefault;
    select.append(new Option(model.name, model.name, chosen, chosen));
  }
  select.hidden = data.models.length < 2;
}

// ---- header menu and dialogs -------------------------------------------------------------

function ask({ title, text = "", input = null, ok = "OK", danger = false }) {
  const dialog = $("dialog");
  $("dialog-title").textContent = title;
  $("dialog-text").textContent = text;
  $("dialog-input").hidden = input === null;
  $("dialog-input").value = input ?? "";
  $("dialog-ok").textContent = ok;
  $("dialog-ok").classList.toggle("danger", danger);
  dialog.returnValue = "";
  dialog.showModal();
  if (input !== null) $("dialog-input").select();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      if (dialog.returnValue !== "ok") resolve(null);
      else resolve(input === null ? true : $("dialog-input").value.trim());
    }, { once: true });
  });
}

function toggleMenu(open) {
  $("menu").hidden = !open;
  $("menu-button").setAttribute("aria-expanded", String(open));
}

async function command(name) {
  toggleMenu(false);
  const conversation = state.conversation;
  if (!conversation) return;
  try {
    if (name === "rename") {
      const title = await ask({ title: "Rename conversation", input: conversation.title, ok: "Rename" });
      if (!title) return;
      const data = await gql(`mutation($id: UUID!, $t: String!) { renameConversation(id: $id, title: $t) { ${CONVERSATION_FIELDS} } }`, { id: conversation.id, t: title });
      state.conversation = { ...conversation, ...data.renameConversation };
      remember(data.renameConversation);
      renderHeader();
    } else if (name === "archive") {
      const data = await gql(`mutation($id: UUID!, $a: Boolean!) { archiveConversation(id: $id, archived: $a) { ${CONVERSATION_FIELDS} } }`, { id: conversation.id, a: !conversation.archived });
      state.conversation = { ...conversation, ...data.archiveConversation };
      state.conversations.delete(conversation.id);
      remember(data.archiveConversation);
      renderHeader();
    } else if (name === "delete") {
      const sure = await ask({ title: "Delete conversation?", text: `“${conversation.title}” and all its messages will be gone for good.`, ok: "Delete", danger: true });
      if (!sure) return;
      await gql(`mutation($id: UUID!) { deleteConversation(id: $id) }`, { id: conversation.id });
      state.conversations.delete(conversation.id);
      go(null);
    }
  } catch (error) {
    showError(error);
  }
}

// ---- the drawer (phones) -----------------------------------------------------------------

function openDrawer() {
  $("app").classList.add("drawer-open");
  $("scrim").hidden = false;
}

function closeDrawer() {
  $("app").classList.remove("drawer-open");
  $("scrim").hidden = true;
}

// ---- wiring ------------------------------------------------------------------------------

$("auth-form").addEventListener("submit", (event) => {
  event.preventDefault();
  authenticate(event.submitter?.dataset.action ?? "signIn");
});
$("new-conversation").onclick = () => go(null);
$("sign-out").onclick = () => signOut();
$("composer").addEventListener("submit", submit);
$("message").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});
$("message").addEventListener("input", () => {
  autosize();
  if ($("message").value.trim()) $("hint").textContent = "";
});
$("stop").onclick = () => stopTurn();
$("model").onchange = () => localStorage.setItem(MODEL_KEY, $("model").value);
$("search").addEventListener("input", searchSoon);
$("search").addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    $("search").value = "";
    search();
  }
});
$("tab-active").onclick = () => showArchived(false);
$("tab-archived").onclick = () => showArchived(true);
$("more-conversations").onclick = () => loadConversations(true).catch(showError);
$("load-earlier").onclick = () => loadMessages(state.earlier).catch(showError);
$("open-drawer").onclick = openDrawer;
$("close-drawer").onclick = closeDrawer;
$("scrim").onclick = closeDrawer;
$("menu-button").onclick = (event) => {
  event.stopPropagation();
  toggleMenu($("menu").hidden);
};
$("menu").addEventListener("click", (event) => {
  const name = event.target.closest("[data-command]")?.dataset.command;
  if (name) command(name);
});
document.addEventListener("click", (event) => {
  if (!$("menu").hidden && !event.target.closest(".menu")) toggleMenu(false);
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  toggleMenu(false);
  closeDrawer();
});
window.addEventListener("hashchange", route);
// Conversations started, renamed or archived on another device since: the list catches up.
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && session() && !$("search").value.trim()) loadConversations().catch(showError);
});
// Another tab signed in or out.
window.addEventListener("storage", (event) => {
  if (event.key !== SESSION_KEY) return;
  if (!event.newValue && !$("app").hidden) signedOut();
  else if (event.newValue && $("app").hidden) hooks.sessionEnded = signedOut;
start();
});
window.addEventListener("online", () => {
  if (state.conversationId && !socket.ws) reconnectSoon();
});
hooks.sessionEnded = signedOut;
start();
