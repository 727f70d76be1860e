#pragma once

/// Fault injection for crash tests: `WARREN_KILL_POINT=<point>:<n>` in the
/// environment makes the process kill itself with SIGKILL the n-th time it
/// reaches `<point>`; `WARREN_PAUSE_POINT=<point>:<n>:<ms>` makes the thread
/// that reaches it the n-th time write "warren: paused at <point>" to stderr
/// and sleep `<ms>` milliseconds (so that a test can, say, close the
/// connection through the broker meanwhile). Without the variables a point
/// costs one branch.
///
/// Points (the per-message path of a stateful actor, in order):
///   after_receive       a delivery reached the actor's dispatcher;
///   after_state_write   the handler ran and its state change is staged;
///   after_outbox_write  inside the commit, before COMMIT;
///   after_commit        the transaction is durable, nothing acked yet;
///   before_ack          the consumer is about to send an ack;
///   after_ack           the ack was written to the socket;
///   during_publish      an outbox message was published, not yet confirmed.

namespace warren {

/// Kills the process here if the environment asks for it (see above).
void kill_point(const char* name);

} // namespace warren
