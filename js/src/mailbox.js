// Messages from the kernel for one file: acks go straight to the relay; everything else is
// queued for the file's own loop to take in order.
export class Mailbox {
  constructor() {
    this.queue = [];
    this.waiters = [];
    this.onAck = null;
    this.onEnd = null;
  }

  deliver(msg) {
    if (msg.type === "ack") { if (this.onAck) this.onAck(msg); return; }
    if (msg.type === "finished" && this.onEnd) this.onEnd();
    const waiter = this.waiters.shift();
    if (waiter) waiter(msg); else this.queue.push(msg);
  }

  next() {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
