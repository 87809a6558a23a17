/** The coordinator's HTTP side: dashboard, its state, Prometheus metrics. */
export { startDashboard, DASHBOARD_DEFAULTS } from './server.js';
export type { Dashboard } from './server.js';
export { ClusterState, estimateEta, DASHBOARD_LIMITS } from './state.js';
export type { DashboardSnapshot, JobView, WorkerView, ThroughputView, HistoryPoint, StateListener } from './state.js';
export { createCoordinatorMetrics, TASK_SECONDS_BUCKETS } from './metrics.js';
export type { CoordinatorMetrics } from './metrics.js';
