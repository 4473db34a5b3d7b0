const exec = /v(\d+)/.exec('v12');
export const version = exec ? Number(exec[1]) : 0;
