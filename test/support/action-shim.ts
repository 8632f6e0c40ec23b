/** What a stand-in trystero room delivers to an action's handler. */
export type ActionHandler = ((data: unknown, context: { peerId: string; metadata?: unknown }) => void) | null;
export type SendOptions = { target?: string | string[]; metadata?: unknown };

/**
 * A trystero action (`makeAction`'s result) for stand-in rooms: the handler lives in `actions`
 * under `name`, where the room's delivery finds it; `send` is the room's own.
 */
export function actionShim(actions: Map<string, { onMessage: ActionHandler }>, name: string, send: (data: unknown, options?: SendOptions) => Promise<void>) {
  const entry = actions.get(name) ?? { onMessage: null };
  actions.set(name, entry);
  return {
    get onMessage() {
      return entry.onMessage;
    },
    set onMessage(handler: ActionHandler) {
      entry.onMessage = handler;
    },
    onReceiveProgress: null,
    send,
  };
}
