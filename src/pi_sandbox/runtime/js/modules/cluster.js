// node:cluster — loads for every extension, which is always the primary. `fork()` is a `net` hostcall (`thread`,
// capability `exec`) decided at use; a refusal is an 'error' event on the returned worker.
import * as host from "pi:host";
import { EventEmitter } from "events";
import { requestEffect } from "pi:effects";

class ClusterWorker extends EventEmitter {
  constructor(id) {
    super();
    this.id = id;
    this.process = null;
    this.exitedAfterDisconnect = false;
  }
  send() { return false; }
  kill() {}
  disconnect() {}
  isConnected() { return false; }
  isDead() { return true; }
}

let nextId = 1;
const cluster = new EventEmitter();
Object.assign(cluster, {
  isPrimary: true,
  isMaster: true,
  isWorker: false,
  workers: {},
  settings: {},
  SCHED_NONE: 1,
  SCHED_RR: 2,
  schedulingPolicy: 2,
  Worker: ClusterWorker,
  setupPrimary(settings) { Object.assign(cluster.settings, settings || {}); },
  setupMaster(settings) { cluster.setupPrimary(settings); },
  disconnect(callback) { if (callback) queueMicrotask(callback); },
  fork() {
    const worker = new ClusterWorker(nextId++);
    requestEffect("thread", { kind: "cluster" }, "fork", "cluster").then(
      () => cluster.emit("fork", worker),
      (err) => {
        host.emitError(worker, err);
        worker.emit("exit", 1, null);
      },
    );
    return worker;
  },
});

export default cluster;
export const { isPrimary, isMaster, isWorker, workers, settings, SCHED_NONE, SCHED_RR, fork, setupPrimary,
  setupMaster, disconnect } = cluster;
export { ClusterWorker as Worker };
