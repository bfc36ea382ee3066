// The chat page: GraphQL over fetch() for queries and mutations, and the chat turn streamed
// over a WebSocket speaking graphql-transport-ws, written out here in a few lines so the page
// needs no build step and no library. Text from the server only ever goes in via textContent.

const GRAPHQL = "/graphql";
const store = window.localStorage;
const $ = (id) => document.getElementById(id);

const state = { conversationId: null, streaming: false };

// ---- tokens ----------------------------------------------------------------------------

function session() {
  const raw = store.getItem("reactor.session");
  return raw ? JSON.parse(raw) : null;
}

function keep(payload) {
  store.setItem("reactor.session", JSON.stringify({
    accessToken: payload.accessToken,
    refreshToken: payload.refreshToken,
    email: payload.user.email,
  }));
}

function forget() {
  store.removeItem("reactor.session");
}

// ---- GraphQL over HTTP -------------------------------------------------------------------

class GraphQLError extends Error {
  constructor(error) {
    super(error.message);
    this.code = error.extensions?.code;
  }
}

async function post(query, variables, token) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(GRAPHQL, {
    method: "POST", headers, body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors?.length) throw new GraphQLError(body.errors[0]);
  return body.data;
}

const AUTH_FIELDS = "accessToken refreshToken expiresIn user { id email }";

// An expired access token is swapped once for a fresh one with the refresh token.
async function gql(query, variables = {}) {
  const current = session();
  try {
    return await post(query, variables, current?.accessToken);
  } catch (error) {
    if (error.code !== "UNAUTHENTICATED" || !current?.refreshToken) throw error;
    await refresh();
    return post(query, variables, session().accessToken);
  }
}

async function refresh() {
  try {
    const data = await post(
      `mutation($r: String!) { refreshSession(refreshToken: $r) { ${AUTH_FIELDS} } }`,
      { r: session().refreshToken },
    );
    keep(data.refreshSession);
  } catch (error) {
    forget();
    show();
    throw error;
  }
}

// ---- graphql-transport-ws ---------------------------------------------------------------

// One subscription on its own socket: connection_init carries the token, then subscribe;
// `next` frames go to onNext until `complete`, `error` or the socket closing.
function subscribe(query, variables, { onNext, onError, onComplete }) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}${GRAPHQL}`, "graphql-transport-ws");
  let finished = false;
  const finish = (callback, value) => {
    if (finished) return;
    finished = true;
    callback(value);
    if (ws.readyState === WebSocket.OPEN) ws.close(1000);
  };
  ws.onopen = () => ws.send(JSON.stringify({
    type: "connection_init",
    payload: { Authorization: `Bearer ${session()?.accessToken ?? ""}` },
  }));
  ws.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    switch (frame.type) {
      case "connection_ack":
        ws.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query, variables } }));
        break;
      case "ping":
        ws.send(JSON.stringify({ type: "pong" }));
        break;
      case "next":
        if (frame.payload.errors?.length) finish(onError, new GraphQLError(frame.payload.errors[0]));
        else onNext(frame.payload.data);
        break;
      case "error":
        finish(onError, new GraphQLError(frame.payload[0]));
        break;
      case "complete":
        finish(onComplete);
        break;
    }
  };
  ws.onclose = (event) => finish(onError, new Error(
    event.code === 4403 ? "Your session has expired: sign in again." : `Connection closed (${event.code}).`,
  ));
  return () => finish(onComplete);
}

// ---- the page ----------------------------------------------------------------------------

function show() {
  const current = session();
  $("auth").hidden = Boolean(current);
  $("chat").hidden = !current;
  $("sign-out").hidden = !current;
  $("who").textContent = current ? current.email : "";
  if (current) loadConversations().catch(fail);
}

function fail(error) {
  $("chat-error").textContent = error.message;
}

async function authenticate(action) {
  $("auth-error").textContent = "";
  const variables = { e: $("email").value, p: $("password").value };
  try {
    const data = await post(
      `mutation($e: String!, $p: String!) { ${action}(email: $e, password: $p) { ${AUTH_FIELDS} } }`,
      variables,
    );
    keep(data[action]);
    $("password").value = "";
    show();
  } catch (error) {
    $("auth-error").textContent = error.message;
  }
}

async function loadConversations() {
  const data = await gql(`{
    conversations(first: 50) { edges { node { id title } } }
    models { name isDefault }
  }`);
  const list = $("conversations");
  list.replaceChildren();
  for (const { node } of data.conversations.edges) {
    const item = document.createElement("li");
    item.textContent = node.title;
    item.dataset.id = node.id;
    item.dataset.testid = "conversation";
    item.classList.toggle("active", node.id === state.conversationId);
    item.onclick = () => open(node.id, node.title).catch(fail);
    list.append(item);
  }
  const models = $("model");
  if (!models.options.length) {
    for (const model of data.models) {
      models.append(new Option(model.name, model.name, model.isDefault, model.isDefault));
    }
  }
}

async function open(id, title) {
  state.conversationId = id;
  $("title").textContent = title;
  $("chat-error").textContent = "";
  for (const item of $("conversations").children) {
    item.classList.toggle("active", item.dataset.id === id);
  }
  const data = await gql(
    `query($id: UUID!) { conversation(id: $id) { messages(last: 50) { edges { node { role content } } } } }`,
    { id },
  );
  $("messages").replaceChildren();
  for (const { node } of data.conversation?.messages.edges ?? []) {
    if (node.role === "TOOL") bubble("tool", `tool result: ${node.content}`);
    else if (node.content) bubble(node.role.toLowerCase(), node.content);
  }
  $("message").focus();
}

function bubble(kind, text) {
  const item = document.createElement("li");
  item.className = kind;
  item.dataset.testid = `message-${kind.split(" ")[0]}`;
  item.textContent = text;
  $("messages").append(item);
  item.scrollIntoView({ block: "end" });
  return item;
}

async function newConversation() {
  const data = await gql(`mutation { createConversation { id title } }`);
  const { id, title } = data.createConversation;
  await loadConversations();
  await open(id, title);
}

const CHAT = `subscription($c: UUID!, $m: String!, $model: String) {
  chat(conversationId: $c, message: $m, model: $model) {
    __typename
    ... on ChatStarted { model }
    ... on TextDelta { text }
    ... on ToolCall { id name arguments }
    ... on ToolResult { id name content }
    ... on ChatCompleted { message { id } usage { totalTokens } }
  }
}`;

async function send(event) {
  event.preventDefault();
  const text = $("message").value.trim();
  if (!text || state.streaming) return;
  if (!state.conversationId) await newConversation();
  $("chat-error").textContent = "";
  $("message").value = "";
  bubble("user", text);
  let reply = null;
  const streaming = (on) => {
    state.streaming = on;
    $("send").disabled = on;
  };
  streaming(true);
  subscribe(CHAT, { c: state.conversationId, m: text, model: $("model").value || null }, {
    onNext: ({ chat }) => {
      switch (chat.__typename) {
        case "TextDelta":
          reply ??= bubble("assistant streaming", "");
          reply.textContent += chat.text;
          reply.scrollIntoView({ block: "end" });
          break;
        case "ToolCall":
          reply?.classList.remove("streaming");
          reply = null;
          bubble("tool", `${chat.name}(${chat.arguments})`).dataset.testid = "tool-call";
          break;
        case "ToolResult":
          bubble("tool", `${chat.name} → ${chat.content}`).dataset.testid = "tool-result";
          break;
        case "ChatCompleted":
          reply?.classList.remove("streaming");
          break;
      }
    },
    onError: (error) => {
      reply?.classList.remove("streaming");
      streaming(false);
      fail(error);
    },
    onComplete: () => {
      streaming(false);
      loadConversations().catch(fail);
    },
  });
}

async function signOut() {
  try {
    await gql(`mutation { signOut }`);
  } catch {
    // Signing out locally is what matters; the server's refresh tokens expire regardless.
  }
  forget();
  state.conversationId = null;
  $("messages").replaceChildren();
  $("conversations").replaceChildren();
  $("title").textContent = "Pick or start a conversation";
  show();
}

$("auth-form").addEventListener("submit", (event) => {
  event.preventDefault();
  authenticate(event.submitter?.dataset.action ?? "signIn");
});
$("new-conversation").onclick = () => newConversation().catch(fail);
$("composer").addEventListener("submit", (event) => send(event).catch(fail));
$("message").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});
$("sign-out").onclick = () => signOut();
show();
