import type { Request } from 'express';

/** Who is acting on this request: the API key's name once authenticated, else `X-User`. */
export function actorOf(req: Request): string {
  const key = (req as Request & { apiKey?: { name?: string } }).apiKey;
  if (key?.name) return key.name;
  const user = req.header('x-user');
  return user && /^[\w.@-]{1,128}$/.test(user) ? user : 'anonymous';
}
