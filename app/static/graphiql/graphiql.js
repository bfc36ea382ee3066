// GraphiQL at /graphql, entirely from this server (app/static/graphiql; the libraries are
// vendored from npm by scripts/vendor_graphiql.sh). Queries and mutations are POSTed to
// /graphql; subscriptions run over a graphql-transport-ws WebSocket at /graphql, whose
// connection_init carries the headers pane's Authorization (a WebSocket has no headers).
"use strict";

const HTTP_URL = `${location.origin}/graphql`;
const WS_URL = HTTP_URL.replace(/^http/, "ws");
const PLACEHOLDER = "<accessToken>";

const DEFAULT_HEADERS = `{"Authorization": "Bearer ${PLACEHOLDER}"}`;

const DEFAULT_QUERY = `# Served by this server alone: no CDN, works offline.
#
# 1. Run SignUp: cursor in it, then Ctrl-Enter
#    (or the ▶ button, then pick it).
# 2. Put its accessToken in the Headers pane below,
#    in place of <accessToken>.
# 3. Run NewConversation; put its id in Variables:
#    {"conversationId": "<id>", "message": "Hello"}
# 4. Run Chat: the reply streams in event by event
#    over a graphql-transport-ws WebSocket.

mutation SignUp {
  signUp(email: "ada@example.com", password: "correct horse battery") {
    accessToken
    user { id email }
  }
}

mutation NewConversation {
  createConversation(title: "Hello") { id title }
}

query Conversations {
  conversations(first: 10) {
    edges { node { id title updatedAt } }
    pageInfo { hasNextPage endCursor }
  }
  models { name isDefault }
}

subscription Chat($conversationId: UUID!, $message: String!) {
  chat(conversationId: $conversationId, message: $message) {
    __typename
    ... on ChatStarted { model userMessage { id content } }
    ... on TextDelta { text }
    ... on ChatCompleted { message { id content } }
  }
}
`;

// The headers to send: the example's placeholder is left out, not sent as a token.
function usableHeaders(headers) {
  return Object.fromEntries(
    Object.entries(headers || {}).filter(
      ([, value]) => !(typeof value === "string" && value.includes(PLACEHOLDER)),
    ),
  );
}

function authorization(headers) {
  const found = Object.entries(usableHeaders(headers)).find(
    ([name]) => name.toLowerCase() === "authorization",
  );
  return found ? String(found[1]) : null;
}

function isSubscription(documentAST, operationName) {
  const operations = (documentAST?.definitions || []).filter(
    (definition) => definition.kind === "OperationDefinition",
  );
  const operation = operationName
    ? operations.find((definition) => definition.name?.value === operationName)
    : operations.length === 1 && operations[0];
  return operation?.operation === "subscription";
}

// One WebSocket client per Authorization value: a new token means a new connection.
let socket = null;

function wsClient(auth) {
  if (socket?.auth === auth) return socket.client;
  socket?.client.dispose();
  const client = graphqlWs.createClient({
    url: WS_URL,
    lazy: true,
    retryAttempts: 0,
    connectionParams: auth ? { Authorization: auth } : {},
  });
  socket = { auth, client };
  return client;
}

async function fetcher(params, options) {
  const headers = options?.headers;
  if (isSubscription(options?.documentAST, params.operationName)) {
    return wsClient(authorization(headers)).iterate(params);
  }
  const response = await fetch(HTTP_URL, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/graphql-response+json, application/json",
      ...usableHeaders(headers),
    },
    body: JSON.stringify(params),
  });
  return response.json();
}

ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultQuery: DEFAULT_QUERY,
    defaultHeaders: DEFAULT_HEADERS,
    defaultEditorToolsVisibility: "headers",
    isHeadersEditorEnabled: true,
    // The headers hold a bearer token: kept for this tab's life, not in local storage.
    shouldPersistHeaders: false,
  }),
);
