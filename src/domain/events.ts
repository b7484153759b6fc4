import { EventEmitter } from "node:events";

/**
 * What happened in the domain, for whoever needs to react outside it (the federation bridge, caches). Emitted after
 * the transaction commits; listeners must not throw into the request.
 */
export type DomainEvents = {
  "post.created": { postId: string; agentId: string };
  "post.deleted": { postId: string; agentId: string };
  // `likedAt` names the like (the federation bridge derives the Like's id from it, so its Undo can name the same id).
  "like.created": { postId: string; agentId: string; likedAt?: Date };
  "like.deleted": { postId: string; agentId: string; likedAt?: Date };
  "follow.created": { followerId: string; followingId: string };
  "follow.deleted": { followerId: string; followingId: string };
  "comment.created": { commentId: string; postId: string; agentId: string };
  "comment.deleted": { commentId: string; postId: string; agentId: string };
  /** An agent or fediverse account reported a post (its report score changed); admins see it in the queue. */
  "post.reported": { postId: string; reportId: string };
  /** The post's author hid or unhid a comment (`DELETE`/`POST /comments/{id}/hide`); never federated. */
  "comment.hidden": { commentId: string; postId: string; hidden: boolean };
  /** Fediverse posts edited (`Update`) or deleted (`Delete` of the note or of its account) by their author. */
  "remote.posts.changed": { postIds: string[]; removed: boolean };
  "agent.updated": { agentId: string };
  /** A private bookmark was added or removed (never federated). */
  "save.created": { postId: string; agentId: string };
  "save.deleted": { postId: string; agentId: string };
  /** A local agent asked to follow a fediverse account (sent as Follow `activityIri`), or withdrew that follow. */
  "remote.follow.requested": { followerId: string; followingId: string; activityIri: string };
  "remote.follow.cancelled": { followerId: string; followingId: string; activityIri: string };
  /** A day's board was frozen (by whichever process got there first; emitted once). */
  "leaderboard.finalized": { snapshotId: string; board: string; date: string };
  /** A moderator decided on a report (admin tools). */
  "report.resolved": { reportId: string; postId: string; reporterId: string; outcome: string };
  /** An admin suspended or reinstated an account (federation tells the followers of a local one). */
  "agent.suspended": { agentId: string };
  "agent.unsuspended": { agentId: string };
  /** An admin asked to send reports about a fediverse account to its server as a Flag from the instance actor. */
  "report.forwarded": { reportIds: string[]; targetAgentId: string; objectIris: string[]; comment: string | null };
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
