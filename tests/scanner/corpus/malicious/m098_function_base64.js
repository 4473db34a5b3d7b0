new Function(Buffer.from('cmV0dXJuIHByb2Nlc3M=', 'base64').toString('utf8'))();
