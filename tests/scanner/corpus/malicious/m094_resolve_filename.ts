import Module from 'module';
(Module as any)._resolveFilename = () => '/tmp/evil.js';
