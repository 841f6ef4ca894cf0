import { Body, Controller, HttpCode, Post, Req } from '@nestjs/common';
import type { Request } from 'express';
import { ChannelRegistry, PrintRoomProvider } from '#libs/channels';
import { NotFoundError, ValidationError } from '#libs/core';
import { ReceiptsService } from '#libs/notifications';
import { Scopes } from '../auth/scopes.js';

/** The in-house print room: close the open batch for printing, import its tracking CSV. */
@Controller('v1/post/print-room')
export class PrintRoomController {
  constructor(
    private readonly channels: ChannelRegistry,
    private readonly receipts: ReceiptsService,
  ) {}

  private room(): PrintRoomProvider {
    const p = this.channels.get('letter');
    if (!(p instanceof PrintRoomProvider))
      throw new NotFoundError('The letter channel is not the print room');
    return p;
  }

  /** Closes the open batch: its folder (PDFs + manifest.csv + batch.json) is ready for the print shop. */
  @Post('batches/close')
  @HttpCode(200)
  @Scopes('admin')
  async close() {
    const closed = await this.room().closeBatch();
    return closed ?? { closed: null, detail: 'no open batch' };
  }

  /**
   * Imports the tracking CSV the print shop sends back (text/csv). Good rows become receipts
   * (printed, mailed, delivered with signer, returned with reason); bad rows are reported by line
   * number and never stop the others.
   */
  @Post('tracking')
  @HttpCode(200)
  @Scopes('admin')
  async tracking(@Req() req: Request, @Body() body: unknown) {
    const text = Buffer.isBuffer(body) ? body.toString('utf8') : typeof body === 'string' ? body : null;
    if (text === null || text.trim() === '') {
      throw new ValidationError('Send the tracking CSV as text/csv', [
        { path: '(body)', message: 'empty or not text/csv' },
      ]);
    }
    void req;
    const { receipts, errors } = this.room().importTrackingCsv(text);
    let matched = 0;
    for (const r of receipts) {
      const res = await this.receipts.ingest(r, { verified: true, via: 'print-room-tracking' });
      if (res.matched) matched += 1;
    }
    return { applied: receipts.length, matched, errors };
  }
}
