/**
 * A chat request's messages as an agent run sees them: system and developer messages join the agent's
 * instruction (in order, wherever they appear), user and assistant turns become the session history, and the last
 * user message is the new message that starts the run. Tool messages belong to client-side tools, which Mule
 * agents do not have, so they are left out, as are assistant messages with no text (tool-call only).
 */
import { MuleError, messageText, type ChatMessage } from '@mule/core';

export interface Turn {
  role: 'user' | 'model';
  text: string;
}

export interface Conversation {
  instruction: string;
  history: Turn[];
  prompt: string;
}

export function splitConversation(instruction: string | undefined, messages: ChatMessage[]): Conversation {
  const system: string[] = instruction ? [instruction] : [];
  const turns: Turn[] = [];
  for (const message of messages) {
    const text = messageText(message);
    switch (message.role) {
      case 'system':
      case 'developer':
        if (text) system.push(text);
        break;
      case 'user':
        turns.push({ role: 'user', text });
        break;
      case 'assistant':
        if (text) turns.push({ role: 'model', text });
        break;
      case 'tool':
      case 'function':
        break;
    }
  }
  const last = turns.pop();
  if (!last || last.role !== 'user') {
    throw new MuleError('invalid_request', 'the conversation must end with a user message', { param: 'messages' });
  }
  return { instruction: system.join('\n\n'), history: turns, prompt: last.text };
}
