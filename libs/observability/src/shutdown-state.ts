import { Injectable } from '@nestjs/common';

/** Set when SIGTERM arrives: readiness turns down so load balancers stop sending traffic. */
@Injectable()
export class ShutdownState {
  draining = false;
}
