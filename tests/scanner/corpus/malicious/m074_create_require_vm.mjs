import { createRequire } from 'module';
const req = createRequire(import.meta.url);
req('vm').runInThisContext(src);
