-- 001_chatbot.sql: conversations and messages, each conversation owned by the JWT's subject.

create table conversations (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null,
  title text not null default 'New conversation',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table messages (
  id uuid primary key default gen_random_uuid(),
  conversation_id uuid not null references conversations(id) on delete cascade,
  role text not null check (role in ('user', 'assistant', 'system')),
  content text not null,
  created_at timestamptz not null default now()
);

create index messages_conversation_id_idx on messages (conversation_id, created_at);

alter table conversations enable row level security;
alter table messages enable row level security;

create policy conversations_owner on conversations
  for all
  using (user_id = (current_setting('request.jwt.claims', true)::json->>'sub')::uuid);

create policy messages_via_conversation on messages
  for all
  using (conversation_id in (
    select id from conversations
    where user_id = (current_setting('request.jwt.claims', true)::json->>'sub')::uuid
  ));
