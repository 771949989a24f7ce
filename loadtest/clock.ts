/**
 * Milliseconds on one timeline shared by the client and the simulators (and by worker
 * threads, if the simulator ever moves to one): the epoch plus a monotonic offset, so that
 * sub-millisecond latencies survive and wall-clock steps during a run do not.
 */
export type Clock = () => number;

export const monotonicClock: Clock = () => performance.timeOrigin + performance.now();
