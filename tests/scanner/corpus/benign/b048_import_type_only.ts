import type { Context } from 'node:vm';
export type Ctx = Context;
