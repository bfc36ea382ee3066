// The chat subscription document every client sends.
export const CHAT = `
subscription Chat($conversationId: UUID!, $message: String!, $model: String) {
  chat(conversationId: $conversationId, message: $message, model: $model) {
    __typename
    ... on ChatStarted { model userMessage { id role content } }
    ... on TextDelta { text }
    ... on ToolCall { id name arguments }
    ... on ToolResult { id name content }
    ... on ChatCompleted { message { id role content } usage { totalTokens } }
  }
}`;

// argv: url (ws:// for the WebSocket clients, http:// for the HTTP ones) token conversation-id
// message [model]
export function args() {
  const [url, token, conversationId, message, model] = process.argv.slice(2);
  return { url, token, variables: { conversationId, message, model: model || null } };
}
