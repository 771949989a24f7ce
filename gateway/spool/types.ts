/** What the spool keeps for one message besides its bytes. */
export interface Envelope {
  readonly id: string;
  readonly mailFrom: string;
  readonly rcpts: readonly string[];
  readonly receivedAt: number;
  readonly class: string;
  /** A pool chosen at accept time by a plugin; null lets routing decide per recipient. */
  readonly pool: string | null;
  readonly priority: number | null;
  readonly campaign: string | null;
  readonly messageId: string | null;
  readonly authUser: string | null;
  readonly clientAddress: string;
  /** Header values that [[routes]] rules match on, by lower-cased name. */
  readonly routeHeaders: Readonly<Record<string, string>>;
  /** True for a DSN we generated (never bounce a bounce). */
  readonly isDsn: boolean;
  /** X-Sluice-Send-At: not attempted before this time (epoch ms); absent: at once. */
  readonly sendAt?: number;
  /** Set on a message a peer handed to this node (gateway/cluster): where it came from. */
  readonly peer?: PeerMark;
  /**
   * Set on a DSN committed before the recipients it reports were recorded bounced or
   * expired (every DSN the queue owes: a remote 5xx, expiry, an operator's bounce):
   * recovery records them when a crash came between the two, so the sender gets this DSN
   * and no second one.
   */
  readonly dsnFor?: DsnFor;
}

/** The recipients a DSN reports, and how each ended (absent in DSNs of an earlier release: an operator's bounce). */
export interface DsnFor {
  readonly id: string;
  readonly rcpts: readonly string[];
  readonly ends?: readonly DsnEnd[];
}

export interface DsnEnd {
  readonly rcpt: string;
  readonly state: 'bounced' | 'expired';
  readonly reply: { readonly code: number; readonly enhanced: string | null; readonly text: string } | null;
  /** The outcome's reason (`admin` for an operator's bounce). */
  readonly reason?: string;
}

/** What a handed-off message keeps of its way here (gateway/cluster/peer-facts.ts). */
export interface PeerMark {
  /** The node that accepted it from its client. */
  readonly origin: string;
  /** The node that handed it to this one. */
  readonly from: string;
  /** Its queue id on `from`. */
  readonly queueId: string;
  /** Node-to-node passes so far (1 after the first handoff). */
  readonly hops: number;
  /** The nodes and queue ids it went through ("n1/<id> n2/<id>"). */
  readonly trace: string;
  /** Delivery attempts before the handoff, by recipient. */
  readonly attempts: Readonly<Record<string, number>>;
  readonly fbl?: string;
}

/**
 * A recipient's final state on this node. `handed_off`: a peer took it over the cluster
 * listener (its 250 came after it was durable there); the peer reports its outcome.
 */
export type RecipientState = 'delivered' | 'bounced' | 'expired' | 'suppressed' | 'cancelled' | 'handed_off';

/** A message found in the spool at start, with what is already known of its recipients. */
export interface RecoveredMessage {
  readonly envelope: Envelope;
  readonly done: ReadonlyMap<string, RecipientState>;
  readonly attempts: ReadonlyMap<string, number>;
  /** When each deferred recipient's next attempt was due (absent: due now). */
  readonly retryAt?: ReadonlyMap<string, number>;
}

/** A deferred recipient: attempts so far and, when known, the time of its next attempt. */
export interface AttemptRecord {
  readonly attempts: number;
  readonly nextAt?: number;
}

/** A message whose record was lost to damage while its envelope still checked out. */
export interface LostMessage {
  readonly envelope: Envelope;
  /** Recipients the journal already has a final state for: they need no DSN. */
  readonly done: ReadonlyMap<string, RecipientState>;
}

/** One damaged region found at recovery, for the log and for the senders of what was lost. */
export interface SpoolDamage {
  /** The damaged file, relative to the spool: "seg/00000003.seg", "journal.log". */
  readonly where: string;
  readonly offset: number;
  readonly length: number;
  /** The quarantine file now holding the bytes; null when none was made (no space, or nothing to keep). */
  readonly quarantined: string | null;
  /** Messages lost here whose envelope checked out (their senders get a DSN). */
  readonly lost: readonly LostMessage[];
  /**
   * Envelope-shaped bytes found here that could not be checked (the segment's key is
   * gone): logged so ops can find the senders, never acted on, since a message body can
   * hold any bytes.
   */
  readonly unchecked: readonly { readonly id: string; readonly mailFrom: string; readonly messageId: string | null }[];
  /**
   * The damage runs to the end of the newest segment or journal: it may be a write a
   * crash or power cut left half done, never acknowledged, so it earns no DSN.
   */
  readonly tornTail: boolean;
}

/** Reports one damaged entry; `damage` says where and what was lost (the segment spool gives it). */
export type CorruptReport = (file: string, reason: string, damage?: SpoolDamage) => void;

export interface Spool {
  /** Resolves only once message and envelope are on stable storage (DESIGN.md "Durability contract"). */
  commit(envelope: Envelope, body: Buffer): Promise<void>;
  readBody(id: string): Promise<Buffer>;
  /** The envelope of a committed message: the queue keeps none for deferred messages and reads it back when one is due. */
  readEnvelope(id: string): Promise<Envelope>;
  /** The message will not be read for a while (it was deferred): drop any in-memory copy. */
  forget?(id: string): void;
  /** Records final states or attempt counts; not fsync'd: a lost record means a resend (at-least-once). */
  record(id: string, rcpt: string, state: RecipientState | AttemptRecord): void;
  remove(id: string): Promise<void>;
  /**
   * Resolves once every state recorded so far is in the file (handed to the kernel:
   * it survives kill -9, not a power cut). The session runner awaits it between two
   * messages on one connection.
   */
  recorded?(): Promise<void>;
  /**
   * Reads back every message left from before, handing each to `onMessage` as it is found
   * (so recovery never holds every envelope at once), and resolves with how many there
   * were. Corrupt entries go to quarantine and are reported. `onMessage` must not use the
   * spool: nothing may until this resolves.
   */
  recover(onMessage: (m: RecoveredMessage) => void, onCorrupt: CorruptReport): Promise<number>;
  /** Free bytes on the spool's filesystem. */
  freeBytes(): Promise<number>;
  close(): Promise<void>;
}
