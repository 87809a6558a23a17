import '@attnfit/shared/native';
await import('/work/main/bench/lib/profile-loss.mjs');
