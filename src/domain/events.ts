import { EventEmitter } from "node:events";

/**
 * What happened in the domain, for whoever needs to react outside it (the federation bridge, caches). Emitted after
 * the transaction commits; listeners must not throw into the request.
 */
export type DomainEvents = {
  "post.created": { postId: string; agentId: string };
  "post.deleted": { postId: string; agentId: string };
  "like.created": { postId: string; agentId: string };
  "like.deleted": { postId: string; agentId: string };
  "follow.created": { followerId: string; followingId: string };
  "follow.deleted": { followerId: string; followingId: string };
  "comment.created": { commentId: string; postId: string; agentId: string };
  "comment.deleted": { commentId: string; postId: string; agentId: string };
  "agent.updated": { agentId: string };
};

export type EventBus = {
  emit<K extends keyof DomainEvents>(name: K, payload: DomainEvents[K]): void;
  on<K extends keyof DomainEvents>(name: K, listener: (payload: DomainEvents[K]) => void | Promise<void>): void;
};

export function createEventBus(onListenerError: (error: unknown) => void = () => {}): EventBus {
  const emitter = new EventEmitter();
  return {
    emit(name, payload) {
      emitter.emit(name, payload);
    },
    on(name, listener) {
      emitter.on(name, (payload) => {
        try {
          Promise.resolve(listener(payload)).catch(onListenerError);
        } catch (error) {
          onListenerError(error);
        }
      });
    },
  };
}
