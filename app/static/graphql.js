// GraphQL for the chat page: the session's tokens (kept in localStorage, shared by the tabs),
// queries and mutations over fetch(), and one WebSocket speaking graphql-transport-ws for
// every subscription, written out here so the page needs no build step and no library.

export const GRAPHQL = "/graphql";
export const SESSION_KEY = "reactor.session";

// What the page does when the session cannot be renewed (it shows the sign-in form).
export const hooks = { sessionEnded: () => {} };

// ---- tokens ------------------------------------------------------------------------------

export function session() {
  const raw = localStorage.getItem(SESSION_KEY);
  return raw ? JSON.parse(raw) : null;
}

export function keep(payload) {
  localStorage.setItem(SESSION_KEY, JSON.stringify({
    accessToken: payload.accessToken,
    refreshToken: payload.refreshToken,
    expiresAt: Date.now() + payload.expiresIn * 1000,
    email: payload.user.email,
  }));
}

export function forget() {
  localStorage.removeItem(SESSION_KEY);
}

// ---- GraphQL over HTTP -------------------------------------------------------------------

export class GraphQLError extends Error {
  constructor(error) {
    super(error.message);
    this.code = error.extensions?.code;
    this.retryAfter = error.extensions?.retryAfter;
  }
}

export async function post(query, variables, token) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(GRAPHQL, { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  } catch {
    throw new GraphQLError({ message: "The server cannot be reached. Check the connection and try again.", extensions: { code: "NETWORK" } });
  }
  const body = await response.json().catch(() => ({ errors: [{ message: `The server answered ${response.status}.` }] }));
  if (body.errors?.length) throw new GraphQLError(body.errors[0]);
  return body.data;
}

export const AUTH_FIELDS = "accessToken refreshToken expiresIn user { id email }";
let refreshing = null;

// One refresh at a time: refresh tokens rotate, and another tab may have rotated ours already.
export function refresh(staleToken) {
  const current = session();
  if (current && staleToken && current.accessToken !== staleToken) return Promise.resolve();
  refreshing ??= (async () => {
    try {
      if (!current?.refreshToken) throw new GraphQLError({ message: "Your session has ended: sign in again.", extensions: { code: "UNAUTHENTICATED" } });
      const data = await post(
        `mutation($r: String!) { refreshSession(refreshToken: $r) { ${AUTH_FIELDS} } }`,
        { r: current.refreshToken },
      );
      keep(data.refreshSession);
    } catch (error) {
      if (error.code !== "NETWORK") hooks.sessionEnded("Your session has ended: sign in again.");
      throw error;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

// An expired access token is swapped once for a fresh one with the refresh token.
export async function gql(query, variables = {}) {
  const token = session()?.accessToken;
  try {
    return await post(query, variables, token);
  } catch (error) {
    if (error.code !== "UNAUTHENTICATED" || !session()?.refreshToken) throw error;
    await refresh(token);
    return post(query, variables, session()?.accessToken);
  }
}

export async function freshToken() {
  const current = session();
  if (current && current.expiresAt && current.expiresAt - Date.now() < 30_000) await refresh(current.accessToken);
  return session()?.accessToken ?? "";
}

// ---- graphql-transport-ws: one socket, many subscriptions --------------------------------

// Subscriptions share one socket. When it drops, each is told through `drop` and forgotten:
// the page then rejoins what it was showing (resumeChat, conversationEvents) on a new socket.
export const socket = {
  ws: null,
  ready: null,
  subs: new Map(),
  seq: 0,

  open() {
    this.ready ??= this.connect(true).catch((error) => {
      this.ready = null;
      throw error;
    });
    return this.ready;
  },

  async connect(mayRefresh) {
    const token = await freshToken();
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}${GRAPHQL}`, "graphql-transport-ws");
    const acked = new Promise((resolve, reject) => {
      ws.onopen = () => ws.send(JSON.stringify({ type: "connection_init", payload: { Authorization: `Bearer ${token}` } }));
      ws.onmessage = (event) => {
        const frame = JSON.parse(event.data);
        if (frame.type === "connection_ack") {
          ws.acked = true;
          resolve();
        }
        else this.receive(frame);
      };
      ws.onclose = (event) => {
        reject(event);
        this.closed(ws, event);
      };
    });
    this.ws = ws;
    try {
      await acked;
    } catch (event) {
      // 4403: the token was refused at connection_init, so refresh it once and try again.
      if (event.code === 4403 && mayRefresh) {
        await refresh(token);
        return this.connect(false);
      }
      throw new GraphQLError({ message: "The live connection could not be opened.", extensions: { code: "NETWORK" } });
    }
    return ws;
  },

  receive(frame) {
    if (frame.type === "ping") {
      this.ws?.send(JSON.stringify({ type: "pong" }));
      return;
    }
    const sub = this.subs.get(frame.id);
    if (!sub) return;
    if (frame.type === "next") {
      if (frame.payload.errors?.length) {
        this.end(frame.id);
        sub.error(new GraphQLError(frame.payload.errors[0]));
      } else {
        sub.next(frame.payload.data);
      }
    } else if (frame.type === "error") {
      this.subs.delete(frame.id);
      sub.error(new GraphQLError(frame.payload[0]));
    } else if (frame.type === "complete") {
      this.subs.delete(frame.id);
      sub.complete?.();
    }
  },

  // Before the ack, connect() retries or fails open(), which tells each subscription.
  closed(ws, event) {
    if (this.ws !== ws) return;
    this.ws = null;
    if (!ws.acked) return;
    this.ready = null;
    const subs = [...this.subs.values()];
    this.subs.clear();
    for (const sub of subs) sub.drop?.(event);
  },

  subscribe(query, variables, handlers) {
    const id = String(++this.seq);
    this.subs.set(id, handlers);
    this.open().then(
      (ws) => {
        if (this.subs.has(id)) ws.send(JSON.stringify({ id, type: "subscribe", payload: { query, variables } }));
      },
      (error) => {
        if (!this.subs.delete(id)) return;
        if (handlers.drop) handlers.drop(error);
        else handlers.error(error);
      },
    );
    return { stop: () => this.end(id) };
  },

  end(id) {
    if (this.subs.delete(id) && this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ id, type: "complete" }));
    }
  },

  close() {
    const ws = this.ws;
    this.ws = null;
    this.ready = null;
    this.subs.clear();
    ws?.close(1000);
  },
};
